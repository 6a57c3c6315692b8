"""Retries as Chromium shows them: the Retry button comes with the end a poll reports; a page that sees its attempt fail
retried goes on to the next one, and its attempt line follows that attempt's wait, run and end."""

from playwright.sync_api import expect

from netsight.asynchronous import claims
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.tests.helpers.chromium import ChromiumTestCase
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.views import GATES
from netsight.asynchronous.tests.helpers.views import new_gate

import re


# The page's own scripts (processing.js).
SCRIPTS_OF_OURS = "() => [...document.scripts].map((script) => script.src).filter((src) => src.includes('netsight.async'))"


def process_id_of(url):
    return re.search(r"process_id=([0-9a-f]{32})", url).group(1)


class TestRetryInChromium(ChromiumTestCase):

    def watched_while_running(self, view):
        """Start ``view`` at a gate, its page shown while it runs; ``(its gate, its process id)``."""
        gate = new_gate(self)
        self.start(view, gate=gate)
        self.page.wait_for_url(PROCESSING_URL)
        expect(self.page.locator(".netsight-async-running")).to_be_visible()
        self.page.evaluate("() => { window.netsightTestMark = 'loaded once'; }")  # gone at any reload
        return gate, process_id_of(self.page.url)

    def test_the_retry_button_appears_when_a_poll_says_the_process_failed(self):
        gate, first = self.watched_while_running("fails-at-gate")
        retry = self.page.get_by_role("button", name="Retry")
        expect(retry).to_be_hidden()
        GATES[gate].set()
        expect(self.page.locator(".netsight-async-failed")).to_be_visible()
        expect(retry).to_be_visible()
        self.assertEqual(self.page.evaluate("() => window.netsightTestMark"), "loaded once")  # no reload
        self.assertEqual(process_id_of(self.page.url), first)
        retry.click()  # the form's POST, with its CSRF token: the next attempt's page
        self.page.wait_for_url(re.compile(r"/processing\?process_id=(?!" + first + r")[0-9a-f]{32}$"))
        expect(self.page.locator(".netsight-async-attempt")).to_contain_text("Attempt 2")
        expect(self.page.get_by_role("button", name="Retry")).to_be_visible()  # it failed at the open gate too
        self.page.reload()  # as the server renders it: the same
        expect(self.page.get_by_role("button", name="Retry")).to_be_visible()
        self.assertEqual(self.dialogs, [])

    def test_a_page_that_saw_its_attempt_fail_goes_on_to_the_automatic_retry(self):
        gate, first = self.watched_while_running("retried-at-gate")
        GATES[gate].set()
        self.page.wait_for_url(re.compile(r"/processing\?process_id=(?!" + first + r")[0-9a-f]{32}$"))
        second = process_id_of(self.page.url)
        expect(self.page.locator(".netsight-async-status")).to_have_text(re.compile(r"^Scheduled for \d\d:\d\d:\d\d$"))
        expect(self.page.locator(".netsight-async-attempt-text")).to_have_text("Attempt 2 of 2")
        expect(self.page.get_by_role("button", name="Retry")).to_have_count(0)  # the view allows no button
        self.page.goto(self.page.url.replace(second, first))  # the failed one, loaded anew
        expect(self.page.locator(".netsight-async-attempt")).to_contain_text(
            re.compile(r"Attempt 1 of 2 failed; attempt 2 is scheduled for \d\d:\d\d:\d\d")
        )
        # It stays there, with its link: the page of an ended process has no script (nothing polls, nothing goes on).
        self.assertEqual(self.page.evaluate(SCRIPTS_OF_OURS), [])
        self.page.locator(".netsight-async-retried-by a").click()
        self.page.wait_for_url(re.compile(r"/processing\?process_id=" + second + "$"))
        expect(self.page.locator(".netsight-async-status")).to_have_text(re.compile(r"^Scheduled for "))
        self.assertEqual(self.dialogs, [])

    def test_a_cancel_while_the_retry_waits_leaves_no_time_on_its_attempt_line(self):
        gate, first = self.watched_while_running("retried-at-gate")  # its retry a minute later
        GATES[gate].set()
        self.page.wait_for_url(re.compile(r"/processing\?process_id=(?!" + first + r")[0-9a-f]{32}$"))
        status = self.page.locator(".netsight-async-status")
        expect(status).to_have_text(re.compile(r"^Scheduled for \d\d:\d\d:\d\d$"))
        time_of_day = re.search(r"\d\d:\d\d:\d\d", status.text_content()).group(0)
        line = self.page.locator(".netsight-async-attempt")
        expect(line).to_have_text(re.compile(r"^Attempt 2 of 2\.\s+The attempt before$"))  # once: its time is the status line's
        self.assertEqual(self.page.locator("#netsight-async-processing").inner_text().count(time_of_day), 1)
        self.page.evaluate("() => { window.netsightTestMark = 'loaded once'; }")
        self.page.get_by_role("button", name="Cancel").click()
        expect(self.page.locator(".netsight-async-ended")).to_contain_text("The process was cancelled.")
        expect(line).to_have_text(re.compile(r"^Attempt 2 of 2\.\s+The attempt before$"))
        self.assertNotIn(time_of_day, line.inner_text())
        self.assertEqual(self.page.evaluate("() => window.netsightTestMark"), "loaded once")  # the script's doing
        self.assertEqual(self.dialogs, [])


class TestAttemptLineInChromium(ChromiumTestCase):
    """A page that follows an automatic retry from its wait to its run and its end: its attempt line, its
    status line, its clock and its spinner say what each answer says, without a reload."""

    def setUp(self):
        super().setUp()
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        MAINTENANCE.claimer = claims.claim_queued  # as in an instance: it queues the retry at its time

    def test_the_attempt_line_follows_the_retry_from_its_wait_to_its_run_and_its_failure(self):
        first_gate, second_gate = new_gate(self), new_gate(self)
        self.start("retried-soon-at-gates", gates=f"{first_gate},{second_gate}", backoff="8")  # 4 to 8 s later
        self.page.wait_for_url(PROCESSING_URL)
        first = process_id_of(self.page.url)
        attempt = self.page.locator(".netsight-async-attempt")
        attempt_text = self.page.locator(".netsight-async-attempt-text")
        status = self.page.locator(".netsight-async-status")
        elapsed = self.page.locator(".netsight-async-elapsed")
        spinner = self.page.locator(".netsight-async-spinner")
        expect(status).to_have_text("Processing...")
        expect(attempt).to_be_hidden()  # a first attempt, running: none
        GATES[first_gate].set()
        self.page.wait_for_url(re.compile(r"/processing\?process_id=(?!" + first + r")[0-9a-f]{32}$"))
        # Waiting for its time: which attempt, once; when it runs, in the status line; no clock, no spinner.
        expect(status).to_have_text(re.compile(r"^Scheduled for \d\d:\d\d:\d\d$"))
        expect(attempt_text).to_have_text("Attempt 2 of 2")
        expect(elapsed).to_have_text("")
        expect(spinner).to_be_hidden()
        self.page.evaluate("() => { window.netsightTestMark = 'loaded once'; }")  # gone at any reload
        # It runs (at its gate): the same attempt line, the clock and the spinner.
        expect(status).to_have_text("Processing...", timeout=60_000)
        expect(attempt_text).to_have_text("Attempt 2 of 2")
        expect(elapsed).to_have_text(re.compile(r"^Elapsed: 0:\d\d$"))
        expect(spinner).to_be_visible()
        GATES[second_gate].set()
        expect(self.page.locator(".netsight-async-failed")).to_be_visible()
        expect(attempt_text).to_have_text("Attempt 2 of 2 failed")
        expect(attempt).to_be_visible()
        self.assertEqual(self.page.evaluate("() => window.netsightTestMark"), "loaded once")
        self.page.reload()  # as the server renders it: the same
        expect(attempt_text).to_have_text("Attempt 2 of 2 failed")
        self.assertEqual(self.dialogs, [])
