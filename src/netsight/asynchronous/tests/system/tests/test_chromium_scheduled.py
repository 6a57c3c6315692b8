"""Start later as Chromium shows it: the page says when the job starts, waits for that time without polling
at growing intervals meanwhile (showing no elapsed time and no spinner: nothing runs), and shows the result once
the job ran."""

from playwright.sync_api import expect

from netsight.asynchronous import claims
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.tests.helpers.chromium import ChromiumTestCase
from netsight.asynchronous.tests.helpers.chromium import pause_clock
from netsight.asynchronous.tests.helpers.chromium import Polls
from netsight.asynchronous.tests.helpers.chromium import POLLS
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL
from netsight.asynchronous.tests.helpers.views import LATER_RUNS

import re
import time


AHEAD = 4  # seconds: the page's growing intervals (0.25 s, then 1.5 times the last) would poll 5 times meanwhile


class TestScheduledInChromium(ChromiumTestCase):

    def setUp(self):
        super().setUp()
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        MAINTENANCE.claimer = claims.claim_queued  # as in an instance: it queues the job at its time

    def test_the_page_says_when_it_starts_polls_at_that_time_and_shows_the_result(self):
        polls = []
        self.page.on("request", lambda request: POLLS.search(request.url) and polls.append(time.time()))
        self.start("later", seconds=str(AHEAD))
        self.page.wait_for_url(PROCESSING_URL)
        process_id = re.search(r"process_id=([0-9a-f]{32})", self.page.url).group(1)
        expect(self.page.locator(".netsight-async-status")).to_have_text(re.compile(r"^Scheduled for \d\d:\d\d$"))
        expect(self.page.get_by_role("button", name="Cancel")).to_be_visible()  # cancel works while scheduled
        self.page.wait_for_url(RESULT_URL, timeout=(AHEAD + 30) * 1000)
        expect(self.page.locator("body")).to_contain_text(f"Ran {process_id}")
        (ran,) = [at for pid, at in LATER_RUNS if pid == process_id]
        before = [at for at in polls if at < ran]
        # Its first poll, and perhaps one at its time: none in between.
        self.assertLessEqual(len(before), 2, [round(at - ran, 2) for at in polls])
        self.assertEqual(self.dialogs, [])

    def assert_nothing_runs(self, page):
        """No elapsed time, no spinner: the page of a job that waits for its time."""
        expect(page.locator(".netsight-async-status")).to_have_text(re.compile(r"^Scheduled for \d\d:\d\d$"))
        expect(page.locator(".netsight-async-elapsed")).to_have_text("")
        expect(page.locator(".netsight-async-spinner")).to_be_hidden()

    def test_while_scheduled_the_page_shows_no_elapsed_time_nor_spinner_with_or_without_javascript(self):
        self.page.clock.install()  # the page's clock is the test's: its polls and its ticks come when the test says
        polls = Polls(self.page, route=False)
        view_url = self.start("later", seconds="600")
        self.page.wait_for_url(PROCESSING_URL)
        process_id = re.search(r"process_id=([0-9a-f]{32})", self.page.url).group(1)
        self.addCleanup(self.cancel, view_url, process_id)
        self.assert_nothing_runs(self.page)  # as the server rendered it
        pause_clock(self.page)  # ten seconds on: its first poll, and ten ticks of its clock
        polls.wait_for_issued(1)
        self.page.clock.run_for(6_000)  # its next poll (every data-poll-max while scheduled), six more ticks
        polls.wait_for_issued(2)
        self.page.clock.run_for(2_000)
        self.assert_nothing_runs(self.page)
        _context, plain = self.new_page(java_script_enabled=False)  # the same user, without JavaScript
        plain.goto(self.page.url)
        self.assert_nothing_runs(plain)
        self.assertEqual(self.dialogs, [])

    def cancel(self, view_url, process_id):
        """Cancel it as its page's button does (the form's POST, with its CSRF token)."""
        self.page.goto(f"{view_url}/processing?process_id={process_id}")
        self.page.get_by_role("button", name="Cancel").click()
        expect(self.page.locator(".netsight-async-ended")).to_be_visible()
