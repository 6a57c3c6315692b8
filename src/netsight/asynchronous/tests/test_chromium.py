"""End to end, in Debian's Chromium: a form starts a job, the processing page
shows its progress and ends on its result (or on its failure).

The jobs are the ``steady`` test view's (see views.py): ``steps`` progress
reports ``delay`` seconds apart, each 100 * step / (steps + 1) percent with
the message "Step {step} of {steps}", then the result page
``<h1 id='result'>Done after N steps</h1>``.
"""

from plone.app.testing import TEST_USER_ID
from playwright.sync_api import expect

from netsight.asynchronous.tests.chromium import ChromiumTestCase
from netsight.asynchronous.tests.chromium import open_start_form
from netsight.asynchronous.tests.chromium import PROCESSING_URL
from netsight.asynchronous.tests.chromium import RESULT_URL
from netsight.asynchronous.tests.chromium import screenshot
from netsight.asynchronous.tests.chromium import start_job
from netsight.asynchronous.tests.chromium import submit

import re
import time


# Polled in the page every 50 ms: records each distinct (progress, message)
# the page shows, with what it says beside them, until two were seen.
SEEN_PROGRESS = """() => {
  const seen = (window.__netsightSeen = window.__netsightSeen || []);
  const bar = document.querySelector("progress.netsight-async-bar");
  const message = document.querySelector(".netsight-async-message");
  if (bar && message && bar.checkVisibility() && bar.value > 0) {
    const text = message.textContent.trim();
    if (text && !seen.some((s) => s.value === bar.value && s.message === text)) {
      const percent = document.querySelector(".netsight-async-percent");
      const status = document.querySelector(".netsight-async-status");
      seen.push({
        value: bar.value,
        max: bar.max,
        message: text,
        percent: percent ? percent.textContent.trim() : null,
        status: status ? status.textContent.trim() : null,
      });
    }
  }
  return seen.length >= 2 ? seen : false;
}"""

TIME = re.compile(r"\d+:\d\d")


class TestProcessingPage(ChromiumTestCase):
    def processing(self):
        """The processing page's container, once the browser is on that page."""
        self.page.wait_for_url(PROCESSING_URL)
        return self.page.locator("#netsight-async-processing")

    def test_progress_then_result(self):
        view_url = self.start("steady", steps=4, delay=1)
        container = self.processing()
        self.assertEqual(container.get_attribute("data-form-url"), view_url)
        for name in ("data-poll-url", "data-result-url", "data-poll-start", "data-poll-growth", "data-poll-max"):
            self.assertTrue(container.get_attribute(name), name)
        status = self.page.locator(".netsight-async-status")
        self.assertEqual(status.get_attribute("aria-live"), "polite")
        self.assertEqual(status.get_attribute("role"), "status")
        expect(self.page.locator(".netsight-async-retrying")).to_be_hidden()
        expect(self.page.locator(".netsight-async-failed")).to_be_hidden()

        seen = self.page.wait_for_function(SEEN_PROGRESS, polling=50).json_value()
        for shown in seen:
            step = round(shown["value"] * 5 / 100)
            self.assertEqual(shown["value"], 20 * step, shown)
            self.assertEqual(shown["max"], 100, shown)
            self.assertEqual(shown["message"], f"Step {step} of 4", shown)
            self.assertEqual(shown["percent"], f"{20 * step}%", shown)
            self.assertIn(f"{20 * step}%", shown["status"], shown)
        self.assertLess(seen[0]["value"], seen[1]["value"])
        # The browser's title follows the progress, before the site's title.
        expect(self.page).to_have_title(re.compile(r"^\d+% completed\.\.\. — Plone site$"))
        expect(self.page.locator("img.netsight-async-spinner")).to_be_hidden()
        # Two values seen, so progress moves: the page estimates what is left.
        expect(self.page.locator(".netsight-async-elapsed")).to_have_text(TIME)
        expect(self.page.locator(".netsight-async-remaining")).to_have_text(TIME, timeout=3000)
        screenshot(self.page, "processing-running.png")

        self.page.wait_for_url(RESULT_URL)
        expect(self.page.locator("#result")).to_have_text("Done after 4 steps")
        self.assertEqual(self.dialogs, [])

    def test_spinner_without_numbers(self):
        self.start("steady", steps=2, delay=0.5, numeric=0)
        self.processing()
        self.assertEqual(self.page.title(), "Processing... — Plone site")
        expect(self.page.locator("img.netsight-async-spinner")).to_be_visible()
        expect(self.page.locator("progress.netsight-async-bar")).to_be_hidden()
        expect(self.page.locator(".netsight-async-status")).to_have_text("Processing...")
        expect(self.page.locator(".netsight-async-remaining")).to_have_text("")
        self.page.wait_for_url(RESULT_URL)
        expect(self.page.locator("#result")).to_have_text("Done after 2 steps")

    def test_lost_connection_is_retried(self):
        polls = re.compile(r"/completed\?")
        self.page.route(polls, lambda route: route.abort())
        self.start("steady", steps=2, delay=1)
        self.processing()
        retrying = self.page.locator(".netsight-async-retrying")
        expect(retrying).to_be_visible()
        expect(retrying).to_have_text("Connection lost, retrying...")
        self.page.unroute(polls)
        expect(retrying).to_be_hidden()
        self.page.wait_for_url(RESULT_URL)
        expect(self.page.locator("#result")).to_have_text("Done after 2 steps")

    def test_failure(self):
        view_url = self.start("steady", steps=1, delay=0.2, fail="boom")
        failed = self.page.locator(".netsight-async-failed")
        expect(failed).to_be_visible()
        expect(failed).to_contain_text("The process failed.")
        back = self.page.locator("a.netsight-async-back")
        expect(back).to_be_visible()
        self.assertEqual(back.get_attribute("href"), view_url)
        self.assertRegex(self.page.url, PROCESSING_URL)
        expect(self.page.locator("progress.netsight-async-bar")).to_be_hidden()
        expect(self.page.locator("img.netsight-async-spinner")).to_be_hidden()
        # A Member learns that it failed, not how.
        text = self.page.locator("body").inner_text()
        for secret in ("boom", "Traceback", "RuntimeError"):
            self.assertNotIn(secret, text)
        self.assertNotIn("boom", self.page.content())
        screenshot(self.page, "processing-failed.png")

    def test_short_job_is_shown_quickly(self):
        open_start_form(self.page, self.site_url)  # before the clock starts
        began = time.monotonic()
        submit(self.page, f"{self.site_url}/steady", steps=1, delay=0.1)
        self.page.wait_for_url(RESULT_URL, timeout=10_000)
        elapsed = time.monotonic() - began
        expect(self.page.locator("#result")).to_have_text("Done after 1 steps")
        self.assertLess(elapsed, 1.5, f"a job of 0.2 s took {elapsed:.2f} s to show")

    def test_message_is_text(self):
        message = "<img src=x onerror=alert(1)>"
        self.start("steady", steps=2, delay=1.5, message=message)
        self.processing()
        shown = self.page.locator(".netsight-async-message")
        expect(shown).to_have_text(message)
        self.assertEqual(shown.inner_text(), message)
        self.assertEqual(self.page.locator("img[src=x]").count(), 0)
        self.page.wait_for_url(RESULT_URL)
        self.assertEqual(self.dialogs, [])


class TestWithoutJavaScript(ChromiumTestCase):
    def test_refresh_reaches_result(self):
        context, page = self.new_page(java_script_enabled=False)
        start_job(page, self.site_url, "steady", steps=1, delay=0.5)
        page.wait_for_url(PROCESSING_URL)
        page.wait_for_url(RESULT_URL, timeout=15_000)
        expect(page.locator("#result")).to_have_text("Done after 1 steps")


class TestUser(ChromiumTestCase):
    def test_job_runs_as_the_browser_user(self):
        """The basic auth header of the starting request is the job's too."""
        with self.page.expect_response(RESULT_URL) as response:
            self.start("echo", kind="check")
        seen = response.value.json()
        self.assertEqual(seen["user"], TEST_USER_ID)
        self.assertIn("Member", seen["roles"])
        self.assertNotIn("Manager", seen["roles"])
        self.assertEqual(seen["kwargs"]["kind"], "check")
        self.assertEqual(seen["method"], "POST")
