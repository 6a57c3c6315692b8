"""A job of a queue without a worker, as Chromium shows it: "Waiting for a worker of 'exports'", then its result once one comes.

The test server's instance serves the default queue only (``queues
default``, said on its heartbeat record): the job of "exports" waits in the
database and the processing page, polling, says so. The instance is then
told to serve "exports" too: it claims the job, and the page, still
polling, goes on to the result by itself.
"""

from playwright.sync_api import expect

from netsight.asynchronous import claims
from netsight.asynchronous import registry
from netsight.asynchronous import storage
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.chromium import ChromiumTestCase
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL

import re
import time


class TestQueueWithoutAWorkerInChromium(ChromiumTestCase):
    def setUp(self):
        super().setUp()
        self.db = self.layer["portal"]._p_jar.db()
        registry.in_own_transaction(self.db, lambda root: storage.made(root) and None)  # where it beats
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        MAINTENANCE.claimer = claims.claim_queued
        setting(self, "job-threads", 2)
        self.polls = 0
        self.page.on("response", self.count_poll)

    def serve(self, text):
        setting(self, "queues", text)
        expected = tuple(sorted(text.split()))
        MAINTENANCE.watch(self.db)  # it beats at once, saying which queues it serves
        wait_until(lambda: self.published() == expected, what=f"the heartbeat's queues {expected}")

    def published(self):
        connection = self.db.open()
        try:
            record = registry.instances(connection.root()).get(instance_id())
            return None if record is None else record.queues
        finally:
            connection.close()

    def polls_after(self, count, timeout=20.0):
        """Wait until the page has had ``count`` answers of its polls (events pumped meanwhile)."""
        deadline = time.monotonic() + timeout
        while self.polls < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the page polled {self.polls} times, not {count}, within {timeout} s")
            self.page.wait_for_timeout(50)

    def count_poll(self, response):
        if "/completed?" in response.url:
            self.polls += 1

    def test_the_page_says_it_waits_for_a_worker_then_shows_the_result(self):
        self.serve("default")
        self.start("export")
        self.page.wait_for_url(PROCESSING_URL)
        status = self.page.locator(".netsight-async-status")
        expect(status).to_have_text("Waiting for a worker of 'exports'")
        expect(self.page.get_by_role("button", name="Cancel")).to_be_visible()
        process_id = re.search(r"process_id=([0-9a-f]{32})", self.page.url).group(1)
        self.polls_after(self.polls + 2)  # the page polls on; it stays so (no worker of "exports")
        expect(status).to_have_text("Waiting for a worker of 'exports'")
        self.serve("default exports")
        self.page.wait_for_url(RESULT_URL)
        expect(self.page.locator("body")).to_contain_text(f"Exported {process_id}")
