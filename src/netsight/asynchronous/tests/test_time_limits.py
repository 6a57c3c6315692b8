"""Time limits (issue 27, point 4): a view's ``time_limit``; past it a job ends *timed out*.

A job that reports (``set_progress``) or asks ``is_cancelled`` is stopped
there, as by a cancel, its work discarded; a job that never reports is
marked timed out by housekeeping once its limit and grace are over, and
what its thread ends with later is discarded. The page shows the end in
a warning alert, the JSON says ``timed_out``, the lists and the REST API
filter by it; in German and Italian too. Real threads, real publishing.
"""

from netsight.asynchronous import housekeeping
from netsight.asynchronous import registry
from netsight.asynchronous import timelimits
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.restapi import services
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.limited_views import GATES
from netsight.asynchronous.tests.helpers.limited_views import new_gate
from netsight.asynchronous.tests.helpers.limited_views import STARTED

import time
import transaction


TIMED_OUT = "The process took longer than it may and was stopped."


class TestTimeLimits(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def start(self, view, **form):
        gate = new_gate(self)
        process_id = self.browser.start(self.url(view), gate=gate, **form)
        self.assertTrue(STARTED[gate].wait(60), "the job did not start")
        return gate, process_id

    def state(self, view, process_id):
        return self.browser.poll(self.url(view), process_id)["state"]

    def wait_for_state(self, view, process_id, state):
        return wait_until(
            lambda: (answer := self.browser.poll(self.url(view), process_id))["state"] == state and answer,
            what=f"process {process_id} {state}",
        )

    def assert_timed_out_page(self, view, process_id, title):
        """The processing page: the warning alert of its end; the JSON says so."""
        self.browser.open(f"{self.url(view)}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 500)  # it ended without its result, as an interrupted one
        page = self.browser.text
        ended = page_part(page, "ended")
        self.assertIsNone(ended.get("hidden"))
        self.assertIn("alert-warning", ended.get("class").split())
        self.assertEqual(ended.find_class("alert-heading")[0].text_content().strip(), TIMED_OUT)
        self.assertEqual(page_part(page, "failed").get("hidden"), "hidden")
        self.assertIn(f"<title>{TIMED_OUT} — {title}", page)
        answer = self.browser.poll(self.url(view), process_id)
        self.assertEqual(answer["state"], "timed_out")
        self.assertIs(answer["timed_out"], True)
        self.assertEqual((answer["completed"], answer["progress"]), ("ERROR", "ERROR"))
        self.assertEqual(answer["progress_message"], "Timed out")
        self.assertEqual(answer["error"], TIMED_OUT)

    def test_a_job_that_reports_stops_at_its_next_report(self):
        gate, process_id = self.start("limited-reporting")
        self.wait_for_state("limited-reporting", process_id, "timed_out")  # its time limit is 0.5 s
        self.assertFalse(GATES[gate].is_set())  # it stopped of itself, at a report
        self.assert_timed_out_page("limited-reporting", process_id, "Limited reporting")
        record = self.fresh_record(process_id)
        self.assertEqual(record.state, registry.TIMED_OUT)
        self.assertIsNone(record.result)
        self.assertFalse(hasattr(self.portal, "limited_work"))  # its work was discarded

    def test_a_job_that_asks_is_cancelled_stops_there(self):
        gate, process_id = self.start("limited-reporting", check="1")
        self.wait_for_state("limited-reporting", process_id, "timed_out")
        self.assertFalse(GATES[gate].is_set())
        record = self.fresh_record(process_id)
        self.assertEqual(record.state, registry.TIMED_OUT)
        self.assertIsNone(record.result)  # what it returned past its limit is not its result
        self.assertFalse(hasattr(self.portal, "limited_work"))
        self.browser.open(f"{self.url('limited-reporting')}/result?process_id={process_id}")
        self.assertNotIn("stopped by is_cancelled", self.browser.text)

    def test_a_job_that_never_reports_is_timed_out_by_housekeeping(self):
        gate, process_id = self.start("limited-silent")
        db = self.app._p_jar.db()
        started = self.fresh_record(process_id).started
        # Before its limit and grace are over, housekeeping leaves it running.
        housekeeping.run(db, "another instance", now=started + 0.4)
        self.assertEqual(self.state("limited-silent", process_id), "running")
        self.assertEqual(timelimits.time_out_overdue(db, now=started + 0.5 + timelimits.GRACE - 1), 0)
        self.assertEqual(self.state("limited-silent", process_id), "running")
        # Past them: timed out, by any instance's pass; a second pass changes nothing.
        with self.assertLogs("netsight.async", "WARNING") as logs:
            interrupted, _removed = housekeeping.run(db, "another instance", now=started + 0.5 + timelimits.GRACE + 1)
        self.assertEqual(interrupted, 1)
        self.assertIn("past their time limit marked timed out", "\n".join(logs.output))
        self.assertEqual(timelimits.time_out_overdue(db, now=started + 0.5 + timelimits.GRACE + 2), 0)
        self.assert_timed_out_page("limited-silent", process_id, "Limited silent")
        record = self.fresh_record(process_id)
        self.assertIn("time limit", record.error)
        # Its thread goes on until it ends of itself: what it ends with is discarded.
        self.assertTrue(POOL.running(process_id))
        GATES[gate].set()
        wait_until(lambda: not POOL.holds(process_id), what="the late job's end")
        record = self.fresh_record(process_id)
        self.assertEqual(record.state, registry.TIMED_OUT)
        self.assertIsNone(record.result)
        self.assertFalse(hasattr(self.portal, "limited_work"))
        self.assertEqual(self.state("limited-silent", process_id), "timed_out")

    def test_the_lists_and_the_rest_api_filter_by_it(self):
        gate, process_id = self.start("limited-reporting")
        self.wait_for_state("limited-reporting", process_id, "timed_out")
        manager = owner_browser(self.app, self.site_url)
        manager.open(f"{self.site_url}/@@netsight-async-processes?state=timed_out")
        self.assertEqual(manager.status, 200)
        self.assertIn(process_id, manager.text)
        self.assertIn("Timed out", manager.text)
        manager.open(f"{self.site_url}/@@netsight-async-processes?state=failed")
        self.assertNotIn(process_id, manager.text)
        self.browser.open(f"{self.site_url}/@@my-processes")
        self.assertIn("Timed out", self.browser.text)
        # The REST API's state filter takes the states the process service knows (test_restapi runs it).
        self.assertIn("timed_out", services.STATES)

    def test_in_german_and_italian(self):
        gate, process_id = self.start("limited-reporting")
        self.wait_for_state("limited-reporting", process_id, "timed_out")
        for language, line, error in (
            ("de", "Zeitüberschreitung", "Der Vorgang dauerte länger als erlaubt und wurde angehalten."),
            ("it", "Tempo scaduto", "Il processo è durato più del consentito ed è stato fermato."),
        ):
            self.browse_in(language)
            answer = self.browser.poll(self.url("limited-reporting"), process_id)
            self.assertEqual((answer["progress_message"], answer["error"]), (line, error))

    def test_a_cancel_asked_stays_a_cancel_past_the_limit(self):
        """A job asked to stop that stops past its limit was cancelled; one that never stops is given up."""
        record = registry.ProcessRecord("p", "v", "/plone", "jane")
        record.state, record.started, record.time_limit = registry.RUNNING, time.time() - 100, 1.0
        record.cancel_requested = True
        self.assertTrue(record.past_time_limit())
        self.assertTrue(record.cancelled())
        self.assertEqual(record.state, registry.CANCELLED)
        record.state, record.finished = registry.RUNNING, None
        self.assertTrue(record.time_out(grace=10))
        self.assertEqual(record.state, registry.TIMED_OUT)

    def test_a_view_without_a_limit_runs_as_long_as_it_takes(self):
        record = registry.ProcessRecord("p", "v", "/plone", "jane")
        record.state, record.started = registry.RUNNING, time.time() - 10**6
        self.assertFalse(record.past_time_limit())
        self.assertFalse(record.time_out(grace=0))
        self.assertTrue(record.cancelled())
        self.assertEqual(record.state, registry.CANCELLED)
