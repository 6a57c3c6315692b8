"""The processing page follows a steady ~10 s job with the default settings, in Chromium, on one instance.

The real clock and the default ``progress-interval`` (the layers' 0 is
undone for the test): Chromium's bar (aria-valuenow) and time left are
sampled while the test reads the stored progress (the JSON status), and
the bounds of issue 24 are checked (``following.FollowsTheJob``): the bar
never more than LAG seconds behind the stored progress, after the job's
first 3 s the time left within a factor of two of the job's real remaining
time, the result shown within RESULT_WITHIN of the job's end. The same
through a front-end and a worker: test_chromium_follows_cluster.py.
Following is never sooner than the view's ``poll_start``: the 2011 page
(``poll_start = 5``, ``poll_growth = 1``, as the README says) still polls
every 5 s.
"""

from netsight.asynchronous.testing import PROGRESS_INTERVAL
from netsight.asynchronous.tests.helpers.chromium import ChromiumTestCase
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL
from netsight.asynchronous.tests.helpers.following import FollowsTheJob
from netsight.asynchronous.tests.helpers.following import watch

import os


def default_progress_interval(test):
    """Undo the layers' ``progress-interval`` 0 for the rest of ``test``."""
    old = os.environ.pop(PROGRESS_INTERVAL, None)
    if old is not None:
        test.addCleanup(os.environ.__setitem__, PROGRESS_INTERVAL, old)


class TestTheBarFollowsTheJob(FollowsTheJob, ChromiumTestCase):
    def test_a_steady_job_with_the_defaults(self):
        """A job of 10 s that reports every 0.05 s: the bar is never more than
        LAG behind the stored progress, after 3 s the time left is within a
        factor of two of the truth, and the result shows soon after the end."""
        default_progress_interval(self)
        page = self.page
        self.start("steady", steps=199, delay=0.05)
        page.wait_for_url(PROCESSING_URL)
        poll_url = page.locator("#netsight-async-processing").get_attribute("data-poll-url")
        poll_url = page.evaluate("(url) => new URL(url, document.baseURI).href", poll_url)
        watched = watch(page, poll_url)
        self.assertEqual(page.locator("#result").text_content(), "Done after 199 steps")
        self.assert_follows(watched, "one instance")

    def test_the_2011_page_polls_every_5_s_all_the_same(self):
        """steady-fixed-polls (poll_start 5, poll_growth 1) watching a job of
        about 12 s that reports every 0.05 s: its polls are 5 s apart (they
        were 1 s apart once the job reported, before)."""
        default_progress_interval(self)
        page = self.page
        sent = []
        page.on("request", lambda request: "/completed?" in request.url and sent.append(request))
        self.start("steady-fixed-polls", steps=239, delay=0.05)
        page.wait_for_url(RESULT_URL, timeout=60_000)
        self.assertEqual(page.locator("#result").text_content(), "Done after 239 steps")
        starts = [request.timing["startTime"] / 1000 for request in sent]
        self.assertGreaterEqual(len(starts), 2, starts)
        gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
        self.assertGreater(min(gaps), 4.9, gaps)
