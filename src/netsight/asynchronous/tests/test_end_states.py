"""The end states look like what they are: failed, cancelled, interrupted (issue 24, point 3).

Each has Bootstrap's alert of its kind with a heading (danger, secondary,
warning), in Plone and in plain Zope's standalone page; its JSON says its
state in ``progress_message`` (not "Processing...") and offers no result.
The bar's label stands beside the bar, not in its fill.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import ZOPE_MANAGER_NAME
from netsight.asynchronous.testing import ZOPE_MANAGER_PASSWORD
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.views import new_gate
from urllib.parse import urlencode

import lxml.html


FAILED = "The process failed."
CANCELLED = "The process was cancelled."
INTERRUPTED = "The server was stopped before the process completed."


def classes(element):
    return set((element.get("class") or "").split())


class EndStates:
    """What each end shows, the same in Plone and in plain Zope."""

    def processing(self, view, process_id):
        self.browser.open(f"{self.url(view)}/processing?process_id={process_id}")
        return self.browser.status, self.browser.text

    def gate_job(self):
        """A running ``gate`` job that reports progress (so that a cancel stops it)."""
        process_id = self.browser.start(self.url("gate"), gate=new_gate(self), report="1")
        wait_until(lambda: self.browser.poll(self.url("gate"), process_id)["state"] == "running", what="a running job")
        return process_id

    def assert_ended(self, page, part, alert, heading, title):
        """The page shows ``part`` (failed or ended) as ``alert`` with ``heading``, nothing else."""
        shown = page_part(page, part)
        self.assertIsNone(shown.get("hidden"))
        self.assertIn(alert, classes(shown))
        self.assertEqual(shown.get("role"), "alert")
        (heading_element,) = shown.find_class("alert-heading")
        self.assertEqual(heading_element.tag, "h2")
        self.assertEqual(heading_element.text_content().strip(), heading)
        self.assertEqual(page_part(page, "running").get("hidden"), "hidden")
        other = "ended" if part == "failed" else "failed"
        self.assertEqual(page_part(page, other).get("hidden"), "hidden")
        self.assertEqual(page_part(page, "title").text, title)  # the page's own heading names the job
        data = lxml.html.fromstring(page).get_element_by_id("netsight-async-processing").attrib
        self.assertNotIn("data-result-url", data)  # there is none to fetch
        scripts = lxml.html.fromstring(page).xpath("//script/@src")
        self.assertFalse([src for src in scripts if "processing.js" in src], scripts)  # nothing more to poll

    def assert_json(self, view, process_id, state, progress_message, error):
        """The JSON of ``completed`` says the state, not "Processing...", and
        the page's status line (hidden, for a screen reader's history) the same."""
        self.assertEqual(page_part(self.browser.text, "status").text, progress_message)
        answer = self.browser.poll(self.url(view), process_id)
        self.assertEqual(answer["state"], state)
        self.assertEqual((answer["completed"], answer["progress"]), ("ERROR", "ERROR"))  # as 1.x
        self.assertEqual(answer["progress_message"], progress_message)
        self.assertEqual(answer["error"], error)
        self.assertNotIn("result_url", answer)
        self.assertIsNone(answer["remaining"])

    def test_failed(self):
        url = self.url("fails")
        process_id = self.browser.start(url)
        self.browser.wait_for(url, process_id)
        status, page = self.processing("fails", process_id)
        self.assertEqual(status, 500)
        self.assert_ended(page, "failed", "alert-danger", FAILED, "Fails")
        self.assertIn(f"<title>{FAILED} — Fails", page)
        self.assert_json("fails", process_id, "failed", "Failed", FAILED)

    def test_cancelled(self):
        process_id = self.gate_job()
        form = {"process_id": process_id}
        if self.browser.token:
            form["_authenticator"] = self.browser.token
        self.browser.post(f"{self.url('gate')}/cancel", urlencode(form))
        self.assertEqual(self.browser.status, 303)
        self.browser.wait_for(self.url("gate"), process_id)
        status, page = self.processing("gate", process_id)
        self.assertEqual(status, 200)  # a cancel is no error
        self.assert_ended(page, "ended", "alert-secondary", CANCELLED, "Gate")
        self.assertNotIn("alert-info", classes(page_part(page, "ended")))
        self.assertIn(f"<title>{CANCELLED} — Gate", page)
        self.assert_json("gate", process_id, "cancelled", "Cancelled", CANCELLED)

    def test_interrupted(self):
        process_id = self.gate_job()
        # As its instance's signal handler, or housekeeping for a dead one, marks it.
        db = self.app._p_jar.db()
        self.assertTrue(registry.change(db, process_id, lambda record: record.interrupt(registry.DEAD_REASON)))
        status, page = self.processing("gate", process_id)
        self.assertEqual(status, 500)
        self.assert_ended(page, "ended", "alert-warning", INTERRUPTED, "Gate")
        self.assertIn(f"<title>{INTERRUPTED} — Gate", page)
        self.assert_json("gate", process_id, "interrupted", "Interrupted: the server was stopped", INTERRUPTED)

    def test_the_bar_label_beside_the_bar(self):
        """At 1 %, the fill is a sliver: the label is beside the bar, not clipped in it."""
        job = HeldJob(self, 1)
        self.assertEqual(job.reached(), "1")
        tree = lxml.html.fromstring(self.processing("progress", job.process_id)[1])
        (percent,), (fill,), (bar,) = (tree.find_class(f"netsight-async-{name}") for name in ("percent", "fill", "bar"))
        self.assertEqual(percent.text, "1%")
        self.assertIsNone(percent.get("hidden"))
        self.assertEqual(fill.get("style"), "width: 1%")
        self.assertNotIn(percent, bar.iterdescendants())  # not in the bar, whose fill clips what it holds
        self.assertIs(percent.getparent(), bar.getparent())
        job.go_on()


class TestEndStatesInPlone(EndStates, JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_in_the_users_language(self):
        self.browse_in("de")
        url = self.url("fails")
        process_id = self.browser.start(url)
        self.browser.wait_for(url, process_id)
        page = self.processing("fails", process_id)[1]
        heading = page_part(page, "failed").find_class("alert-heading")[0]
        self.assertEqual(heading.text, "Der Prozess ist fehlgeschlagen.")
        self.assertEqual(self.browser.poll(url, process_id)["progress_message"], "Fehlgeschlagen")


class TestEndStatesInPlainZope(EndStates, JobTestCase):
    layer = NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.browser = JobBrowser(self.app, self.site_url, ZOPE_MANAGER_NAME, ZOPE_MANAGER_PASSWORD)

    def test_the_standalone_page_has_the_alerts_look(self):
        """Plain Zope has no Bootstrap: the standalone page styles each alert itself."""
        process_id = self.gate_job()
        page = self.processing("gate", process_id)[1]
        style = lxml.html.fromstring(page).find(".//style").text
        for alert in ("alert-danger", "alert-secondary", "alert-warning", "alert-info"):
            self.assertIn(f".{alert} {{", style)
        for utility in ("d-flex", "flex-grow-1", "gap-2", "text-nowrap"):  # the bar and its label
            self.assertIn(f".{utility} {{", style)
