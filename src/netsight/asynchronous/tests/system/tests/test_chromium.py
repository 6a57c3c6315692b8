"""End to end, in Debian's Chromium: a form starts a job, the processing page
shows its progress and ends on its result (or on its failure).

The jobs are the ``steady`` test view's (see views.py): ``steps`` progress
reports ``delay`` seconds apart, each 100 * step / (steps + 1) percent with
the message "Step {step} of {steps}", then the result page
``<h1 id='result'>Done after N steps</h1>``.
"""

from email.utils import formatdate
from plone.app.testing import TEST_USER_ID
from playwright.sync_api import expect
from urllib.parse import unquote

from netsight.asynchronous.tests.helpers.base import at_view
from netsight.asynchronous.tests.helpers.chromium import ChromiumTestCase
from netsight.asynchronous.tests.helpers.chromium import JobOnHold
from netsight.asynchronous.tests.helpers.chromium import ONLINE
from netsight.asynchronous.tests.helpers.chromium import open_start_form
from netsight.asynchronous.tests.helpers.chromium import pause_clock
from netsight.asynchronous.tests.helpers.chromium import POLLS
from netsight.asynchronous.tests.helpers.chromium import Polls
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL
from netsight.asynchronous.tests.helpers.chromium import screenshot
from netsight.asynchronous.tests.helpers.chromium import SET_HIDDEN
from netsight.asynchronous.tests.helpers.chromium import start_job
from netsight.asynchronous.tests.helpers.chromium import status_json
from netsight.asynchronous.tests.helpers.chromium import submit
from netsight.asynchronous.tests.helpers.chromium import wait_until
from netsight.asynchronous.tests.helpers import views
from netsight.asynchronous.tests.helpers.views import new_gate

import os
import re
import time


MARKER = ("_netsight_async_back", "1")  # formvalues.MARKER: the POST is "Back to the form"
HIDDEN_FIELDS = "fields => fields.filter(f => f.name !== '_authenticator').map(f => [f.name, f.value])"


def back_form(button):
    """What the "Back to the form" ``button`` posts: (its form's action, its hidden
    fields as [name, value] lists, without plone.protect's token of the viewer)."""
    form = button.locator("xpath=ancestor::form[1]")
    return form.get_attribute("action"), form.locator("input[type=hidden]").evaluate_all(HIDDEN_FIELDS)


def posted(view_url, *fields):
    """The form of ``view_url`` and the hidden fields that post ``fields`` back."""
    return at_view(view_url), [list(MARKER), *(list(field) for field in fields)]


# Polled in the page every 50 ms: records each distinct (progress, message)
# the page shows, with what it says beside them, until two were seen.
SEEN_PROGRESS = """() => {
  const seen = (window.__netsightSeen = window.__netsightSeen || []);
  const bar = document.querySelector(".progress.netsight-async-bar");
  const message = document.querySelector(".netsight-async-message");
  const value = bar ? Number(bar.getAttribute("aria-valuenow")) : 0;
  if (bar && message && bar.checkVisibility() && value > 0) {
    const text = message.textContent.trim();
    if (text && !seen.some((s) => s.value === value && s.message === text)) {
      const percent = document.querySelector(".netsight-async-percent");
      const status = document.querySelector(".netsight-async-status");
      seen.push({
        value: value,
        max: Number(bar.getAttribute("aria-valuemax")),
        width: bar.querySelector(".progress-bar").style.width,
        message: text,
        percent: percent ? percent.textContent.trim() : null,
        status: status ? status.textContent.trim() : null,
      });
    }
  }
  return seen.length >= 2 ? seen : false;
}"""

TIME = re.compile(r"\d+:\d\d")

NO_SUCH_PROCESS = "There is no such process, or its result was already shown."
RESULT_SHOWN = "This result was already shown."
SESSION_ENDED = "Your session has ended, or access was refused."
FIVE_MINUTES = 300_000  # ms: the longest Retry-After the page honours

# Counts the changes made below the running part of the page (the status
# line, a live region, among them), but for the clock's two lines.
WATCH_WRITES = """() => {
  window.__netsightWrites = [];
  const running = document.querySelector(".netsight-async-running");
  const clock = ".netsight-async-elapsed, .netsight-async-remaining";
  new MutationObserver((records) => {
    for (const record of records) {
      const node = record.target.nodeType === Node.ELEMENT_NODE ? record.target : record.target.parentElement;
      if (!node.closest(clock)) {
        window.__netsightWrites.push(node.className || node.tagName);
      }
    }
  }).observe(running, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


class TestProcessingPage(ChromiumTestCase):
    def processing(self):
        """The processing page's container, once the browser is on that page."""
        self.page.wait_for_url(PROCESSING_URL)
        return self.page.locator("#netsight-async-processing")

    def test_progress_then_result(self):
        view_url = self.start("steady", steps=4, delay=1)
        container = self.processing()
        self.assertEqual(container.get_attribute("data-form-url"), at_view(view_url))
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
            self.assertEqual(shown["width"], f"{20 * step}%", shown)
            self.assertEqual(shown["message"], f"Step {step} of 4", shown)
            self.assertEqual(shown["percent"], f"{20 * step}%", shown)
            self.assertIn(f"{20 * step}%", shown["status"], shown)
        self.assertLess(seen[0]["value"], seen[1]["value"])
        # The browser's title follows the progress, before the job's title (its view's name) and the site's.
        expect(self.page).to_have_title(re.compile(r"^\d+% completed\.\.\. — Steady — Plone site$"))
        expect(self.page.locator(".netsight-async-spinner")).to_be_hidden()
        # The bar has a name for assistive technology (the test site is unthemed: the
        # bar has no height without Bootstrap; its look is test_chromium_look's, in the demo).
        expect(self.page.get_by_role("progressbar", name="Progress", exact=True)).to_be_attached()
        expect(self.page.locator(".netsight-async-percent")).to_be_visible()
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
        self.assertEqual(self.page.title(), "Processing... — Steady — Plone site")
        expect(self.page.locator(".netsight-async-spinner")).to_be_visible()
        expect(self.page.locator(".netsight-async-bar")).to_be_hidden()
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
        # A notice, not a line like the others (Plone's Bootstrap classes).
        expect(retrying).to_have_class(re.compile(r"(^|\s)alert-warning(\s|$)"))
        self.page.unroute(polls)
        expect(retrying).to_be_hidden()
        self.page.wait_for_url(RESULT_URL)
        expect(self.page.locator("#result")).to_have_text("Done after 2 steps")

    def test_failure(self):
        view_url = self.start("steady", steps=1, delay=0.2, fail="boom")
        failed = self.page.locator(".netsight-async-failed")
        expect(failed).to_be_visible()
        expect(failed).to_contain_text("The process failed.")
        back = self.page.locator("button.netsight-async-back")
        expect(back).to_be_visible()
        # The form as it was posted (formvalues.py), posted back, in no URL.
        self.assertEqual(back_form(back), posted(view_url, ("steps", "1"), ("delay", "0.2"), ("fail", "boom")))
        self.assertRegex(self.page.url, PROCESSING_URL)
        expect(self.page.locator(".netsight-async-bar")).to_be_hidden()
        expect(self.page.locator(".netsight-async-spinner")).to_be_hidden()
        # A Member learns that it failed, not how.
        text = self.page.locator("body").inner_text()
        for secret in ("boom", "Traceback", "RuntimeError"):
            self.assertNotIn(secret, text)
        # Nor in the page's source, but the hidden field that posts it back to the form (fail=boom).
        self.assertNotIn("boom", re.sub(r'<input type="hidden" name="fail" value="boom">', "", self.page.content()))
        screenshot(self.page, "processing-failed.png")

    def test_back_to_the_form_refills_it_and_starts_nothing(self):
        """A click on "Back to the form" shows the form filled in as sent; the
        posted-back ``run`` (its button's name, the README's ``run_process``)
        starts no job, and the browser's address carries no value."""
        view_url = self.start("refilled", n="1234", run="", fail="boom")
        expect(self.page.locator(".netsight-async-failed")).to_be_visible()
        ran = list(views.Refilled.ran)
        self.page.locator("button.netsight-async-back").click()
        expect(self.page.locator("#n")).to_have_value("1234")
        self.assertEqual(self.page.url, at_view(view_url))
        self.assertEqual(views.Refilled.ran, ran)

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


class TestUnderARealNetwork(ChromiumTestCase):
    """The processing page when the network, the session or the tab let it
    down: the poll answers replaced by the test (routes), the browser
    offline, the tab hidden; where time decides, the page's clock is the
    test's (page.clock), so that no test depends on the machine's speed."""

    def open_processing(self, page, clock=True, route=True):
        """Start a job in ``page`` that runs until the test ends it (JobOnHold),
        its polls watched (Polls); returns both once on the processing page."""
        if clock:
            page.clock.install()
        polls = Polls(page, route=route)
        job = JobOnHold(self)
        job.start(page, self.site_url)
        page.wait_for_url(PROCESSING_URL)
        return job, polls

    def form_url(self, page):
        """The URL of the form, as the processing page in ``page`` knows it."""
        return page.locator("#netsight-async-processing").get_attribute("data-form-url")

    def assert_no_more_polls(self, page, polls):
        """Not in five minutes, not when the tab is shown, not back online."""
        issued = polls.issued()
        pause_clock(page)
        page.clock.run_for(FIVE_MINUTES)
        self.assertEqual(page.evaluate(SET_HIDDEN, False), issued)
        self.assertEqual(page.evaluate(ONLINE), issued)
        self.assertEqual(polls.issued(), issued)

    def assert_shown_instead_of_progress(self, page, part, heading):
        """The page says ``heading`` in ``part``, not that the process failed nor retries."""
        shown = page.locator(f".netsight-async-{part}")
        expect(shown).to_be_visible()
        expect(shown.locator(".alert-heading")).to_have_text(heading)
        expect(page).to_have_title(f"{heading} — Progress — Plone site")
        expect(page.locator(".netsight-async-running")).to_be_hidden()
        expect(page.locator(".netsight-async-failed")).to_be_hidden()
        text = page.locator("body").inner_text()
        self.assertNotIn("The process failed.", text)
        self.assertNotIn("Connection lost, retrying...", text)
        return shown

    def test_result_shown_in_another_tab(self):
        """A duplicated tab showed the result: this one says so (the
        server's 410 answer to its owner), not that the process failed,
        with links to the form and to My processes."""
        job, polls = self.open_processing(self.page)
        polls.wait_for_held()  # this tab's first poll waits...
        job.release()
        other = self.context.new_page()
        other.goto(self.page.url)  # ...while its duplicate shows the result
        other.wait_for_url(RESULT_URL)
        expect(other.locator("body")).to_have_text("finished")
        other.close()
        with self.page.expect_response(re.compile(r"/completed\?")) as answer:
            polls.release()
        self.assertEqual(answer.value.status, 410)
        self.assert_shown_instead_of_progress(self.page, "ended", RESULT_SHOWN)
        mine = self.page.locator(".netsight-async-my-processes a")
        expect(mine).to_have_text("My processes")
        self.assertEqual(mine.get_attribute("href"), f"{self.site_url}/@@my-processes")
        back = self.page.locator("button.netsight-async-ended-back")
        expect(back).to_have_text("Back to the form")
        self.assertEqual(back_form(back), (self.form_url(self.page), [list(MARKER), ["steps", job.key]]))
        self.assert_no_more_polls(self.page, polls)
        self.assertEqual(self.dialogs, [])

    def test_cancelled_or_interrupted(self):
        """A process that ended without a result: the server's text, a link to the form."""
        for state, error in (
            ("cancelled", "The process was cancelled."),
            ("interrupted", "The process was interrupted: the server restarted."),
        ):
            with self.subTest(state=state):
                context, page = self.new_page()
                job, polls = self.open_processing(page)
                polls.answer(json=status_json("queued"))
                polls.answer(json=status_json(state, "ERROR", error=error))
                self.assert_shown_instead_of_progress(page, "ended", error)
                back = page.locator("button.netsight-async-ended-back")
                expect(back).to_be_visible()
                self.assertEqual(back_form(back), (self.form_url(page), [list(MARKER), ["steps", job.key]]))
                self.assert_no_more_polls(page, polls)

    def test_session_ended(self):
        """A login form (in place, or by a redirect), a 401 or a 403: the
        page asks to log in again, and polls no more."""
        login_form = "<html><body><form id='login-form'>Log in</form></body></html>"
        for case, answer in (
            ("login form", dict(body=login_form)),
            ("redirect", dict(status=302, headers={"Location": f"{self.site_url}/login"})),
            ("redirect to JSON", dict(status=302)),  # elsewhere: not this process's answer
            ("401", dict(status=401, json={"error": "Unauthorized"})),
            ("403", dict(status=403, body="<h1>Forbidden</h1>")),
        ):
            with self.subTest(case):
                context, page = self.new_page()
                _, polls = self.open_processing(page)
                if case == "redirect to JSON":  # the 404 JSON of another process
                    poll_url = page.locator("#netsight-async-processing").get_attribute("data-poll-url")
                    answer["headers"] = {"Location": re.sub("process_id=[0-9a-f]+", "process_id=" + "0" * 32, poll_url)}
                polls.answer(**answer)
                self.assert_shown_instead_of_progress(page, "login", SESSION_ENDED)
                link = page.locator("a.netsight-async-login-link")
                expect(link).to_have_text("Log in again")
                login_url = page.locator("#netsight-async-processing").get_attribute("data-login-url")
                self.assertEqual(link.get_attribute("href"), login_url)
                # Plone's login form, back here afterwards.
                login, came_from = login_url.split("?came_from=")
                self.assertEqual(login, f"{self.site_url}/login")
                self.assertEqual(unquote(came_from), page.url)  # the processing page, its process_id too
                self.assert_no_more_polls(page, polls)

    def test_retry_after_and_the_clock_standing_still(self):
        """Retry-After (seconds, at most five minutes, or a date) delays the
        next poll; while no good answer comes, the times shown stand still.
        The time left comes from the rate across answers (none from one
        answer) and counts down at most one poll interval past it."""
        page = self.page
        _, polls = self.open_processing(page)
        retrying = page.locator(".netsight-async-retrying")
        elapsed = page.locator(".netsight-async-elapsed")
        remaining = page.locator(".netsight-async-remaining")
        polls.wait_for_held()
        pause_clock(page)
        polls.answer(json=status_json(completed=20, elapsed=10.0, remaining=40.0))
        expect(elapsed).to_have_text("Elapsed: 0:10")
        expect(remaining).to_have_text("")  # one answer: no rate yet
        page.clock.run_for(1_000)  # the next poll comes
        polls.answer(json=status_json(completed=40, elapsed=20.0, remaining=30.0))
        expect(remaining).to_have_text("About 0:30 left")  # 2 % a second
        expect(elapsed).to_have_text("Elapsed: 0:20")
        page.clock.run_for(5_000)  # the next poll comes; no answer yet
        expect(remaining).to_have_text("About 0:29 left")  # one poll interval past the answer's, no further

        polls.answer(status=503, headers={"Retry-After": "3"}, body="<h1>Service Unavailable</h1>")
        expect(retrying).to_be_visible()
        issued = polls.issued()
        shown = (elapsed.text_content(), remaining.text_content())
        page.clock.run_for(2_900)
        self.assertEqual(polls.issued(), issued, "a poll before Retry-After")
        self.assertEqual((elapsed.text_content(), remaining.text_content()), shown)
        page.clock.run_for(200)
        self.assertEqual(polls.issued(), issued + 1)
        polls.answer(json=status_json(completed=60, elapsed=30.0, remaining=20.0))
        expect(retrying).to_be_hidden()
        expect(remaining).to_have_text("About 0:20 left")
        page.clock.run_for(5_000)  # the clock runs again; the next poll comes
        expect(remaining).to_have_text("About 0:19 left")

        # An hour asked for: five minutes waited.
        polls.answer(status=429, headers={"Retry-After": "3600"}, body="Too many requests")
        expect(retrying).to_be_visible()
        issued = polls.issued()
        page.clock.run_for(FIVE_MINUTES - 1_000)
        self.assertEqual(polls.issued(), issued)
        self.assertEqual(remaining.text_content(), "About 0:19 left")
        page.clock.run_for(2_000)
        self.assertEqual(polls.issued(), issued + 1)
        polls.answer(json=status_json(completed=80, elapsed=40.0, remaining=10.0))
        expect(retrying).to_be_hidden()
        page.clock.run_for(5_000)

        # An HTTP date ten seconds ahead of the page's clock.
        ahead = formatdate(page.evaluate("Date.now()") / 1000 + 10, usegmt=True)
        polls.answer(status=503, headers={"Retry-After": ahead}, body="")
        expect(retrying).to_be_visible()
        issued = polls.issued()
        page.clock.run_for(8_500)
        self.assertEqual(polls.issued(), issued)
        page.clock.run_for(2_000)
        self.assertEqual(polls.issued(), issued + 1)

    def test_hidden_tab(self):
        """Hidden, the tab polls every 30 s at most; shown again, at once
        (once: not while a poll is under way), then at its pace again."""
        page = self.page
        _, polls = self.open_processing(page)
        status = page.locator(".netsight-async-status")
        polls.wait_for_held()
        pause_clock(page)
        polls.answer(json=status_json(completed=10))
        expect(status).to_have_text("10% completed...")
        self.assertEqual(page.evaluate(SET_HIDDEN, True), 1)
        page.clock.run_for(25_000)
        self.assertEqual(polls.issued(), 1, "a hidden tab polled within 25 s")
        page.clock.run_for(10_000)
        self.assertEqual(polls.issued(), 2, "a hidden tab polls every 30 s")
        self.assertTrue(page.evaluate("window.__netsightPolls[1].hidden"))
        polls.answer(json=status_json(completed=20))
        expect(status).to_have_text("20% completed...")
        page.clock.run_for(25_000)
        self.assertEqual(polls.issued(), 2)
        self.assertEqual(page.evaluate(SET_HIDDEN, False), 3, "no poll at once when shown")
        self.assertEqual(page.evaluate(SET_HIDDEN, False), 3, "a second poll while one is under way")
        self.assertEqual(page.evaluate(ONLINE), 3, "a second poll while one is under way")
        polls.answer(json=status_json(completed=30))
        expect(status).to_have_text("30% completed...")
        page.clock.run_for(5_000)  # data-poll-max
        self.assertEqual(polls.issued(), 4)

    def test_back_online(self):
        """Offline, the page says it retries and its clock stands still;
        back online, it polls at once and goes on to the result."""
        page = self.page
        job, polls = self.open_processing(page, route=False)
        retrying = page.locator(".netsight-async-retrying")
        elapsed = page.locator(".netsight-async-elapsed")
        polls.wait_for_issued(1)
        self.context.set_offline(True)
        expect(retrying).to_be_visible()
        pause_clock(page)
        failed = polls.issued()
        polls.wait_for_issued(failed)  # none under way
        shown = elapsed.text_content()
        page.clock.run_for(10_000)
        polls.wait_for_issued(failed + 1)  # failed too
        expect(retrying).to_be_visible()
        self.assertEqual(elapsed.text_content(), shown)
        polls.wait_for_issued(polls.issued())  # none under way
        # The clock stands still: only the "online" event can poll now.
        with page.expect_request(POLLS):
            self.context.set_offline(False)
        expect(retrying).to_be_hidden()
        job.release()
        page.clock.resume()
        page.wait_for_url(RESULT_URL)
        expect(page.locator("body")).to_have_text("finished")

    def test_the_same_answer_changes_nothing(self):
        """The status line (a live region) and its neighbours are written
        only when what they say changes."""
        same = status_json(completed=40, message="Step 1 of 4", elapsed=1.0, remaining=1.5)
        polls = Polls(self.page, auto=lambda route: route.fulfill(json=same))
        JobOnHold(self).start(self.page, self.site_url)
        self.page.wait_for_url(PROCESSING_URL)
        expect(self.page.locator(".netsight-async-status")).to_have_text("40% completed...")
        expect(self.page.locator(".netsight-async-message")).to_have_text("Step 1 of 4")
        self.page.evaluate(WATCH_WRITES)
        seen = polls.routed
        # Each poll waits for the answer to the last: four more answered, at least.
        wait_until(self.page, lambda: polls.routed >= seen + 5, what="five more polls")
        self.assertEqual(self.page.evaluate("window.__netsightWrites"), [])
        self.assertEqual(self.page.title(), "40% completed... — Progress — Plone site")

    def test_a_job_at_100_percent_still_runs(self):
        """The state decides: 100 % of a running job is not its end."""
        page = self.page
        job, polls = self.open_processing(page, clock=False)
        polls.answer(json=status_json(completed=100, message="All rows read"))
        expect(page.locator(".netsight-async-status")).to_have_text("100% completed...")
        expect(page.locator(".netsight-async-percent")).to_have_text("100%")
        expect(page.get_by_role("progressbar", name="Progress", exact=True)).to_have_attribute("aria-valuenow", "100")
        job.release()
        poll_url = page.locator("#netsight-async-processing").get_attribute("data-poll-url")
        wait_until(page, lambda: self.context.request.get(poll_url).json()["state"] == "done", what="the job's end")
        self.assertRegex(page.url, PROCESSING_URL)
        polls.release()  # the server: done
        page.wait_for_url(RESULT_URL)
        expect(page.locator("body")).to_have_text("finished")

    def test_back_after_the_result(self):
        """The result replaced the processing page: Back leads to the form's page."""
        start_job(self.page, self.site_url, "steady", steps=1, delay=0.1)
        self.page.wait_for_url(RESULT_URL)
        expect(self.page.locator("#result")).to_have_text("Done after 1 steps")
        self.page.go_back()
        self.assertNotRegex(self.page.url, PROCESSING_URL)
        self.assertEqual(self.page.url, f"{self.site_url}/own-template")


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


class TestCancelButton(ChromiumTestCase):
    """The processing page's Cancel button: a form that POSTs to ``cancel``."""

    def gate(self):
        return new_gate(self)

    def assert_cancelled(self, view_url, *fields):
        ended = self.page.locator(".netsight-async-ended")
        expect(ended.locator(".alert-heading")).to_have_text("The process was cancelled.")
        back = ended.locator("button.netsight-async-ended-back")
        expect(back).to_be_visible()
        self.assertEqual(back_form(back), posted(view_url, *fields))  # the form as it was posted, posted back
        expect(self.page.locator(".netsight-async-running")).to_be_hidden()

    def test_a_running_job(self):
        gate = self.gate()
        view_url = self.start("gate", gate=gate, report="1")
        self.page.wait_for_url(PROCESSING_URL)
        self.page.get_by_role("button", name="Cancel").click()
        self.assert_cancelled(view_url, ("gate", gate), ("report", "1"))

    def test_a_waiting_job(self):
        os.environ["NETSIGHT_ASYNC_POOL_SIZE"] = "1"
        self.addCleanup(os.environ.pop, "NETSIGHT_ASYNC_POOL_SIZE")
        gate = self.gate()
        _context, other = self.new_page()
        start_job(other, self.site_url, "gate", gate=gate)  # takes the only place
        other.wait_for_url(PROCESSING_URL)
        view_url = self.start("gate", gate=gate)
        self.page.wait_for_url(PROCESSING_URL)
        expect(self.page.locator(".netsight-async-status")).to_have_text("Waiting to start")
        self.page.get_by_role("button", name="Cancel").click()
        self.assert_cancelled(view_url, ("gate", gate))

    def test_the_page_says_cancelling_at_once(self):
        """A click on Cancel: "Cancelling..." and no button, before the cancel's
        POST is even answered; then as long as the job runs (this one never
        checks: it runs on), in the polls' answers and in the page loaded anew."""
        held = []
        self.page.route("**/@@gate/cancel", lambda route: held.append(route))
        self.start("gate", gate=self.gate())
        self.page.wait_for_url(PROCESSING_URL)
        status = self.page.locator(".netsight-async-status")
        button = self.page.get_by_role("button", name="Cancel")
        expect(status).to_have_text("Processing...")
        button.click()
        expect(status).to_have_text("Cancelling...")
        expect(button).to_be_hidden()
        self.assertTrue(self.page.title().startswith("Cancelling..."), self.page.title())
        wait_until(self.page, lambda: held, what="the cancel's POST")
        self.assertEqual(held[0].request.method, "POST")
        with self.page.expect_response("**/@@gate/cancel") as answered:
            held[0].continue_()
        self.assertEqual(answered.value.status, 200)
        self.assertIs(answered.value.json()["cancelling"], True)
        self.page.wait_for_timeout(0)  # the answer's handler runs
        expect(status).to_have_text("Cancelling...")
        expect(button).to_be_hidden()
        self.page.reload()
        expect(status).to_have_text("Cancelling...")
        expect(button).to_be_hidden()
        expect(self.page.locator(".netsight-async-running")).to_be_visible()

    def test_a_cancel_that_did_not_reach_the_server_brings_the_button_back(self):
        self.page.route("**/@@gate/cancel", lambda route: route.abort())
        self.start("gate", gate=self.gate())
        self.page.wait_for_url(PROCESSING_URL)
        button = self.page.get_by_role("button", name="Cancel")
        button.click()
        expect(button).to_be_visible()  # after "Cancelling...", the POST failed
        expect(self.page.locator(".netsight-async-status")).to_have_text("Processing...")  # the next poll's
