"""Twenty processes started at once all complete, each with its own result."""

from netsight.asynchronous import registry
from netsight.asynchronous.listing import Listing
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase

import json
import threading


class TestManyAtOnce(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_twenty_processes_started_at_once(self):
        count = 20
        url = self.url("echo")
        token = self.browser.token
        barrier = threading.Barrier(count)
        started = {}

        def start(number):
            browser = JobBrowser(self.app, self.site_url)
            barrier.wait()
            started[number] = (browser, browser.start(url, number=str(number), _authenticator=token))

        threads = [threading.Thread(target=start, args=(number,)) for number in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(len(started), count)
        self.assertEqual(len({process_id for browser, process_id in started.values()}), count)
        for number, (browser, process_id) in started.items():
            self.assertEqual(browser.wait_for(url, process_id)["completed"], True)
            seen = json.loads(browser.result(url, process_id))
            self.assertEqual(seen["kwargs"]["number"], str(number))
            self.assertEqual(seen["process_id"], process_id)
        self.fresh_record("0" * 32)  # a new transaction
        # Each result shown once is gone; its record stays only to tell its owner so, in no list or count.
        records = self.app._p_jar.root()[registry.ROOT_KEY]
        self.assertEqual(sorted(records), sorted(process_id for _browser, process_id in started.values()))
        self.assertEqual([pid for pid, record in records.items() if record.result is not None], [])
        site = "/".join(self.portal.getPhysicalPath())
        self.assertEqual(len(Listing(self.app._p_jar, site)), 0)
        self.assertEqual(registry.count(self.app._p_jar.root(), site, registry.DONE), 0)
        self.browser.open(f"{self.site_url}/@@my-processes")
        self.assertNotIn("data-process-id", self.browser.text)
