"""The end states as Chromium shows them, in Plone's Barceloneta theme (issue 24, point 3).

A failed job's page is Bootstrap's danger alert, an interrupted one's a
warning, a cancelled one's a neutral (secondary) alert, each with its
heading: as the page switches to it when a poll reports the end, and as
the server renders it at a reload. The bar's label is readable at 1 %: no
element that clips its content cuts it.

The test server is on 127.0.0.1, which Plone leaves unthemed: each test
takes it out of the unthemed hosts (its database is the test's own).
"""

from playwright.sync_api import expect
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.chromium import ChromiumTestCase
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.views import new_gate
from netsight.asynchronous.tests.helpers.views import STEPS
from netsight.asynchronous.tests.helpers.views import Steps

import re
import transaction
import uuid


UNTHEMED_HOSTS = "plone.app.theming.interfaces.IThemeSettings.hostnameBlacklist"
TRANSPARENT = ("rgba(0, 0, 0, 0)", "transparent")

# The label of the bar: its box, its text, and whatever cuts it (an ancestor
# that clips its overflow and does not hold the box whole), or covers its middle.
LABEL = """() => {
  const label = document.querySelector(".netsight-async-percent");
  const box = label.getBoundingClientRect();
  const clippedBy = [];
  for (let node = label.parentElement; node; node = node.parentElement) {
    const style = getComputedStyle(node);
    if (style.overflowX !== "visible" || style.overflowY !== "visible") {
      const outer = node.getBoundingClientRect();
      if (box.left < outer.left - 0.5 || box.right > outer.right + 0.5 || box.top < outer.top - 0.5 || box.bottom > outer.bottom + 0.5) {
        clippedBy.push(node.className || node.tagName);
      }
    }
  }
  const middle = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return {
    text: label.textContent,
    width: box.width,
    height: box.height,
    overflows: label.scrollWidth > label.clientWidth + 0.5,
    clippedBy: clippedBy,
    onTop: middle === label || label.contains(middle),
    inView: box.left >= 0 && box.right <= window.innerWidth,
  };
}"""


class TestEndStatesInChromium(ChromiumTestCase):
    def setUp(self):
        super().setUp()
        settings = getUtility(IRegistry, context=self.layer["portal"])
        settings[UNTHEMED_HOSTS] = []
        transaction.commit()

    def assert_themed(self):
        sheets = self.page.evaluate(
            '() => [...document.styleSheets].map((sheet) => sheet.href || "").filter((href) => href.includes("barceloneta"))'
        )
        self.assertTrue(sheets, "no Barceloneta stylesheet")

    def assert_alert(self, part, alert, heading, job_title):
        """``part`` is shown as Bootstrap's ``alert`` with ``heading`` (and the page
        names the job above it); returns the alert's background colour."""
        shown = self.page.locator(f".netsight-async-{part}")
        expect(shown).to_be_visible()
        expect(shown).to_have_class(re.compile(r"(^|\s)alert(\s|$)"))
        expect(shown).to_have_class(re.compile(rf"(^|\s){alert}(\s|$)"))
        expect(shown).to_have_attribute("role", "alert")
        expect(shown.locator(".alert-heading")).to_have_text(heading)
        expect(shown.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(self.page.locator("h1.netsight-async-title")).to_have_text(job_title)
        expect(self.page).to_have_title(f"{heading} — {job_title} — Plone site")
        expect(self.page.locator(".netsight-async-running")).to_be_hidden()
        for other in ("alert-info", "alert-danger", "alert-warning", "alert-secondary"):
            if other != alert:
                expect(shown).not_to_have_class(re.compile(rf"(^|\s){other}(\s|$)"))
        background = shown.evaluate("(node) => getComputedStyle(node).backgroundColor")
        self.assertNotIn(background, TRANSPARENT, part)  # Barceloneta's alert, not a bare box
        return background

    def the_end_as_polled_then_rendered(self, part, alert, heading, job_title):
        """The page switches to the end (a poll), then a reload renders it the same."""
        switched = self.assert_alert(part, alert, heading, job_title)
        self.page.reload()
        self.assert_themed()
        rendered = self.assert_alert(part, alert, heading, job_title)
        self.assertEqual(switched, rendered)
        return rendered

    def running_gate_job(self):
        """A ``gate`` job that reports progress while it waits for the test, its page shown."""
        self.start("gate", gate=new_gate(self), report="1")
        self.page.wait_for_url(PROCESSING_URL)
        expect(self.page.get_by_role("button", name="Cancel")).to_be_visible()
        expect(self.page.locator(".netsight-async-percent")).to_have_text("1%")
        return re.search(r"process_id=([0-9a-f]{32})", self.page.url).group(1)

    def test_failed_cancelled_interrupted(self):
        self.start("steady", steps=1, delay=0.2, fail="boom")
        self.page.wait_for_url(PROCESSING_URL)
        self.assert_themed()
        failed = self.the_end_as_polled_then_rendered("failed", "alert-danger", "The process failed.", "Steady")

        self.running_gate_job()
        self.page.get_by_role("button", name="Cancel").click()
        cancelled = self.the_end_as_polled_then_rendered(
            "ended", "alert-secondary", "The process was cancelled.", "Gate"
        )

        process_id = self.running_gate_job()
        # As the instance's signal handler marks it (or housekeeping, for a dead instance).
        db = self.layer["app"]._p_jar.db()
        self.assertTrue(registry.change(db, process_id, lambda record: record.interrupt(registry.DEAD_REASON)))
        interrupted = self.the_end_as_polled_then_rendered(
            "ended", "alert-warning", "The server was stopped before the process completed.", "Gate"
        )
        # Three looks, not one light-blue box.
        self.assertEqual(len({failed, cancelled, interrupted}), 3, (failed, cancelled, interrupted))
        self.assertEqual(self.dialogs, [])

    def test_the_bar_label_is_readable_at_one_percent(self):
        steps = Steps()
        key = uuid.uuid4().hex
        STEPS[key] = steps
        self.addCleanup(STEPS.pop, key)
        self.addCleanup(lambda: [steps.go_on.put(True) for _ in range(2)])  # run first: the job ends
        self.start("progress", steps=key, **{"progress:list": "1"})
        self.assertEqual(steps.reached.get(timeout=30), "1")
        self.page.wait_for_url(PROCESSING_URL)
        self.assert_themed()
        bar = self.page.get_by_role("progressbar", name="Progress", exact=True)
        expect(bar).to_be_visible()
        expect(bar).to_have_attribute("aria-valuenow", "1")
        percent = self.page.locator(".netsight-async-percent")
        expect(percent).to_have_text("1%")
        expect(percent).to_be_visible()
        label = self.page.evaluate(LABEL)
        self.assertEqual(label["text"], "1%", label)
        self.assertGreater(label["width"], 0, label)
        self.assertGreater(label["height"], 0, label)
        self.assertFalse(label["overflows"], label)
        self.assertEqual(label["clippedBy"], [], label)
        self.assertTrue(label["onTop"], label)
        self.assertTrue(label["inView"], label)
        # The bar beside it is Bootstrap's, and its fill a sliver of it.
        track = bar.bounding_box()
        self.assertGreater(track["height"], 0)
        self.assertGreater(track["width"], 10 * label["width"])
