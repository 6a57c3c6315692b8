"""The processing page follows a steady ~10 s job through a front-end and a worker, in Chromium.

The layer of test_anonymous_cluster.py (a ZEO server, the site /plone,
front-ends F and G with ``pool-size 0`` and a worker W, real Zope
instances in subprocesses; its settings change the heartbeat and the
anonymous visitors' caps only) with one headless Chromium on top. The page
and its polls are F's; the job runs on W, whose ``progress-interval`` is
the default (1 s), as every setting of the page is; the clock is the real
one. Chromium's bar and time left are sampled while the test reads the
stored progress from W, which writes it, as the same Member; the bounds
are those of the job on one instance (``following.FollowsTheJob``): the
bar never more than LAG seconds behind the stored progress, after the
job's first 3 s the time left within a factor of two of the truth, and the
result shown within RESULT_WITHIN of the job's end.
"""

from netsight.asynchronous.tests.helpers.chromium import ChromiumBrowserLayer
from netsight.asynchronous.tests.helpers.chromium import new_context
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL
from netsight.asynchronous.tests.helpers.chromium import start_job
from netsight.asynchronous.tests.helpers.chromium import TIMEOUT
from netsight.asynchronous.tests.helpers.following import FollowsTheJob
from netsight.asynchronous.tests.helpers.following import watch
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.system.tests.test_anonymous_cluster import FRONT_ENDS_AND_WORKER
from netsight.asynchronous.tests.system.tests.test_anonymous_cluster import SITE_PATH
from pathlib import Path
from urllib.parse import urlsplit

import unittest


CHROMIUM_CLUSTER = ChromiumBrowserLayer(bases=(FRONT_ENDS_AND_WORKER,), name="NetsightAsync:ChromiumCluster")
PAGE_SETTINGS = ("NETSIGHT_ASYNC_PROGRESS_INTERVAL", "NETSIGHT_ASYNC_POLL")  # none set: the defaults


class TestTheBarFollowsTheJobOnACluster(FollowsTheJob, unittest.TestCase):
    layer = CHROMIUM_CLUSTER

    def setUp(self):
        self.f, self.w = self.layer["f"], self.layer["w"]
        context = new_context(self.layer["browser"], user=MEMBER[0], password=MEMBER[1])
        self.addCleanup(context.close)
        context.set_default_timeout(TIMEOUT)
        self.page = context.new_page()

    def warm_up(self):
        """One short job first, not watched: F's and W's templates compiled
        and caches filled, as on a site in use (fresh instances take
        seconds to render their first Plone pages)."""
        start_job(self.page, self.f.url + SITE_PATH, "steady", steps=1, delay=0.1)
        self.page.wait_for_url(RESULT_URL)

    def assert_default_settings(self, page):
        """Nothing sets how F's page polls or how often W writes the progress."""
        for instance in (self.f, self.w):
            environ = Path(f"/proc/{instance.pid}/environ").read_bytes().decode("utf-8", "replace").split("\0")
            self.assertEqual([value for value in environ if value.startswith(PAGE_SETTINGS)], [])
            self.assertNotRegex(instance.zope_conf.read_text(), r"progress-interval|poll-")
        processing = page.locator("#netsight-async-processing")
        timings = [processing.get_attribute(f"data-poll-{name}") for name in ("start", "growth", "max")]
        self.assertEqual(timings, ["250", "1.5", "5000"])

    def test_a_steady_job_through_a_front_end_and_a_worker(self):
        """A job of 10 s that reports every 0.05 s, started on F and run on W,
        watched on F: the bar is never more than LAG behind the progress W
        stored, after 3 s the time left is within a factor of two of the
        truth, and the result shows soon after the end."""
        with logs_on_failure(self.f, self.w):
            page = self.page
            self.warm_up()
            start_job(page, self.f.url + SITE_PATH, "steady", steps=199, delay=0.05)
            page.wait_for_url(PROCESSING_URL)
            self.assertTrue(page.url.startswith(self.f.url + "/"), page.url)
            self.assert_default_settings(page)
            poll_url = page.locator("#netsight-async-processing").get_attribute("data-poll-url")
            poll_url = page.evaluate("(url) => new URL(url, document.baseURI).href", poll_url)
            on_w = urlsplit(poll_url)._replace(netloc=urlsplit(self.w.url).netloc).geturl()
            watched = watch(page, on_w)
            self.assertTrue(page.url.startswith(self.f.url + "/"), page.url)
            self.assertEqual(page.locator("#result").text_content(), "Done after 199 steps")
            self.assert_follows(watched, "front-end F, worker W")
