"""Start later (issue 27, point 1): a view's ``run_after`` makes its process scheduled, then it runs at its time."""

from datetime import datetime
from datetime import timezone
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD
from urllib.parse import urlencode

from netsight.asynchronous import claims
from netsight.asynchronous import registry
from netsight.asynchronous import scheduling
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.processes.state import ProcessState
from netsight.asynchronous.processes.status import ProcessStatus
from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import NETSIGHT_ASYNC_RESTAPI_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.views import LATER_RUNS
from netsight.asynchronous.tests.test_restapi import Client as RestClient

import json
import lxml.html
import time
import transaction
import unittest


class ScheduledTestCase(JobTestCase):
    """As in an instance: the maintenance thread claims the jobs queued in the database."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        MAINTENANCE.claimer = claims.claim_queued


class TestScheduled(ScheduledTestCase):

    def schedule(self, seconds, **form):
        """Start ``later`` to run ``seconds`` from now; ``(process id, when it may run)``."""
        before = time.time()
        process_id = self.browser.start(self.url("later"), seconds=seconds, **form)
        return process_id, before + seconds

    def poll(self, process_id):
        return self.browser.poll(self.url("later"), process_id)

    def ran(self, process_id):
        return [at for pid, at in LATER_RUNS if pid == process_id]

    def test_a_job_scheduled_ahead_waits_scheduled_then_runs_at_its_time(self):
        process_id, due = self.schedule(1.5)
        answer = self.poll(process_id)
        self.assertEqual(answer["state"], "scheduled")
        when = datetime.fromisoformat(answer["scheduled_for"])
        self.assertIsNotNone(when.tzinfo)
        self.assertAlmostEqual(when.timestamp(), due, delta=1.5)  # whole seconds, and the start's own time
        self.assertEqual(answer["progress_message"], f"Scheduled for {datetime.fromtimestamp(when.timestamp()):%H:%M}")
        self.assertNotIn("queue_position", answer)  # no "N ahead": it waits for its time, not in a queue
        self.assertEqual(answer["priority"], 0)
        self.assertEqual(self.ran(process_id), [])
        done = self.browser.wait_for(self.url("later"), process_id)
        self.assertEqual(done["state"], "done")
        self.assertIsNone(done["scheduled_for"])
        (ran,) = self.ran(process_id)
        record = self.fresh_record(process_id)
        self.assertGreaterEqual(ran, record.run_after)  # never before its time
        self.assertLess(ran - record.run_after, 2.0)  # a worker takes it within about a second
        self.assertEqual(self.browser.result(self.url("later"), process_id), f"Ran {process_id}")

    def test_an_aware_datetime_is_its_time_too(self):
        process_id, due = self.schedule(60, aware="1")
        answer = self.poll(process_id)
        self.assertEqual(answer["state"], "scheduled")
        self.assertAlmostEqual(datetime.fromisoformat(answer["scheduled_for"]).timestamp(), due, delta=1.5)
        self.cancel(process_id)

    def cancel(self, process_id):
        form = {"process_id": process_id, "_authenticator": self.browser.token}
        self.browser.post(f"{self.url('later')}/cancel", urlencode(form))
        self.assertEqual(self.browser.status, 303)

    def test_cancel_while_scheduled_ends_it_and_it_never_runs(self):
        process_id, _due = self.schedule(60)
        self.cancel(process_id)
        answer = self.poll(process_id)
        self.assertEqual(answer["state"], "cancelled")
        self.assertEqual(answer["error"], "The process was cancelled.")
        transaction.begin()
        root = self.app._p_jar.root()
        self.assertNotIn(process_id, [pid for _at, pid in registry.scheduled_entries(root)])
        # Its time come, nothing is queued of it.
        self.assertEqual(registry.queue_due(root, time.time() + 3600)[0], 0)
        transaction.abort()
        self.assertEqual(self.ran(process_id), [])

    def test_the_processing_page_says_when_it_starts(self):
        process_id, _due = self.schedule(60)
        self.addCleanup(self.cancel, process_id)
        self.browser.open(f"{self.url('later')}/processing?process_id={process_id}")
        when = datetime.fromtimestamp(self.fresh_record(process_id).run_after)
        status = page_part(self.browser.text, "status").text_content().strip()
        self.assertEqual(status, f"Scheduled for {when:%H:%M}")
        self.assertTrue(page_part(self.browser.text, "cancel") is not None)  # cancel works while scheduled

    def test_a_day_ahead_the_page_says_the_date_too(self):
        process_id, _due = self.schedule(2 * 86400)
        self.addCleanup(self.cancel, process_id)
        when = datetime.fromtimestamp(self.fresh_record(process_id).run_after)
        self.assertEqual(self.poll(process_id)["progress_message"], f"Scheduled for {when:%Y-%m-%d %H:%M}")

    def test_in_german_and_italian(self):
        process_id, _due = self.schedule(60)
        self.addCleanup(self.cancel, process_id)
        when = datetime.fromtimestamp(self.fresh_record(process_id).run_after)
        self.browse_in("de")
        self.assertEqual(self.poll(process_id)["progress_message"], f"Geplant für {when:%H:%M}")
        self.browser.addHeader("Accept-Language", "it")
        self.assertEqual(self.poll(process_id)["progress_message"], f"Avvio previsto: {when:%H:%M}")

    def test_the_managers_list_shows_and_filters_it_as_scheduled(self):
        process_id, _due = self.schedule(60)
        self.addCleanup(self.cancel, process_id)
        manager = owner_browser(self.app, self.site_url)
        manager.open(f"{self.site_url}/@@netsight-async-processes?state=scheduled")
        rows = lxml.html.fromstring(manager.text).xpath("//tr[@data-process-id]")
        self.assertEqual([(row.get("data-process-id"), row.get("data-state")) for row in rows], [(process_id, "scheduled")])
        self.assertIn("Scheduled", rows[0].text_content())
        manager.open(f"{self.site_url}/@@netsight-async-processes?state=queued")
        self.assertNotIn(process_id, manager.text)

    def test_my_processes_lists_it_as_scheduled(self):
        process_id, _due = self.schedule(60)
        self.addCleanup(self.cancel, process_id)
        self.browser.open(f"{self.site_url}/@@my-processes")
        (row,) = lxml.html.fromstring(self.browser.text).xpath(f"//tr[@data-process-id='{process_id}']")
        self.assertEqual(row.get("data-state"), "scheduled")

    def test_a_job_scheduled_a_moment_ahead_runs_at_its_time_not_at_the_next_timed_look(self):
        """The maintenance thread reads the soonest scheduled time every claim-interval, and also at each look
        for news (a commit seen): a job scheduled less than claim-interval before its time is not late."""
        setting(self, "claim-interval", 30)
        first, _due = self.schedule(1.5)  # once it ran, the next timed look is claim-interval away
        self.assertEqual(self.browser.wait_for(self.url("later"), first)["state"], "done")
        process_id, _due = self.schedule(0.5)
        self.assertEqual(self.browser.wait_for(self.url("later"), process_id, timeout=60)["state"], "done")
        (ran,) = self.ran(process_id)
        self.assertLess(ran - self.fresh_record(process_id).run_after, 5.0)  # not the 30 s of the timed look

    def test_a_time_that_has_come_starts_now(self):
        process_id = self.browser.start(self.url("later"), seconds=-5)
        self.assertIsNone(self.fresh_record(process_id).run_after)
        self.assertEqual(self.browser.wait_for(self.url("later"), process_id)["state"], "done")

    def test_two_passes_queue_a_due_job_once(self):
        """Two instances' passes that see the same due job: one queues it, the other's retry finds it queued."""
        process_id, _due = self.schedule(60)
        self.addCleanup(self.cancel, process_id)
        db = self.app._p_jar.db()
        later = time.time() + 3600
        first = db.open(transaction_manager=transaction.TransactionManager())
        second = db.open(transaction_manager=transaction.TransactionManager())
        try:
            first.transaction_manager.begin()
            second.transaction_manager.begin()
            self.assertEqual(registry.queue_due(first.root(), later)[0], 1)
            self.assertEqual(registry.queue_due(second.root(), later)[0], 1)
            first.transaction_manager.commit()
            with self.assertRaises(Exception) as raised:
                second.transaction_manager.commit()
            self.assertIn("Conflict", type(raised.exception).__name__)
            second.transaction_manager.abort()
            second.transaction_manager.begin()
            self.assertEqual(registry.queue_due(second.root(), later)[0], 0)  # the retry: queued already
        finally:
            first.transaction_manager.abort()
            second.transaction_manager.abort()
            first.close()
            second.close()
        self.assertEqual(self.browser.wait_for(self.url("later"), process_id)["state"], "done")
        self.assertEqual(len(self.ran(process_id)), 1)


class TestNoElapsedTimeWhileScheduled(ScheduledTestCase):
    """Nothing runs while a job waits for its time: its JSON says 0 elapsed seconds (a number still, as 1.x
    clients read it), its page neither an elapsed time nor a spinner."""

    schedule = TestScheduled.schedule
    poll = TestScheduled.poll
    cancel = TestScheduled.cancel

    def scheduled_a_moment_ago(self):
        process_id, _due = self.schedule(60)
        self.addCleanup(self.cancel, process_id)
        created = self.fresh_record(process_id).created
        wait_until(lambda: time.time() > created + 0.3, what="a moment since the start")  # it would read 0.3 and more
        return process_id

    def test_its_json_says_zero_seconds(self):
        answer = self.poll(self.scheduled_a_moment_ago())
        self.assertEqual((answer["state"], answer["elapsed"], answer["remaining"]), ("scheduled", 0.0, None))
        self.assertIsInstance(answer["elapsed"], float)

    def test_its_page_shows_no_elapsed_time_and_no_spinner(self):
        process_id = self.scheduled_a_moment_ago()
        self.browser.open(f"{self.url('later')}/processing?process_id={process_id}")
        self.assertEqual(page_part(self.browser.text, "elapsed").text_content(), "")
        self.assertEqual(page_part(self.browser.text, "spinner").get("hidden"), "hidden")
        self.assertTrue(page_part(self.browser.text, "status").text_content().startswith("Scheduled for "))
        page = lxml.html.fromstring(self.browser.text).get_element_by_id("netsight-async-processing")
        self.assertEqual(page.get("data-state"), "scheduled")  # processing.js reads it


class TestElapsedOfAScheduledProcess(unittest.TestCase):
    """``ProcessStatus.elapsed`` of a process that was scheduled: none while it waits for its time, then counted
    from that time while it waits in the queue, and from its start once it runs."""

    def status(self, state, started=None, finished=None, as_of=1000.0):
        return ProcessStatus(
            process_id="0" * 32, state=state, stored_state=state.value, view_name="later", context_path="/plone",
            site="/plone", owner="alice", owner_key="alice", title=None, progress=None, message=None, error=None,
            created=100.0, started=started, finished=finished, queue_position=None, reruns=0,
            cancel_requested=False, instance="", result_gone=False, keep_until=None,
            context_url="http://nohost/plone", as_of=as_of, due=900.0,
        )

    def test_none_while_scheduled_then_from_its_time_then_from_its_start(self):
        self.assertEqual(self.status(ProcessState.SCHEDULED, as_of=950.0).elapsed, 0.0)
        self.assertEqual(self.status(ProcessState.QUEUED).elapsed, 100.0)  # due at 900: not since its start at 100
        self.assertEqual(self.status(ProcessState.RUNNING, started=990.0).elapsed, 10.0)
        self.assertEqual(self.status(ProcessState.DONE, started=990.0, finished=995.0).elapsed, 5.0)

    def test_one_cancelled_before_its_time_took_none(self):
        self.assertEqual(self.status(ProcessState.CANCELLED, finished=500.0).elapsed, 0.0)


class TestScheduledJSON(ScheduledTestCase):

    def test_json_start_and_status(self):
        browser = self.browser
        browser.addHeader("Accept", "application/json")
        browser.post(self.url("later"), urlencode({"seconds": 60, "_authenticator": browser.token}))
        self.assertEqual(browser.status, 202)
        start = json.loads(browser.contents)
        browser.open(start["status_url"])
        answer = json.loads(browser.contents)
        self.assertEqual(answer["state"], "scheduled")
        self.assertEqual(answer["completed"], False)
        self.assertIsInstance(answer["scheduled_for"], str)
        form = {"process_id": start["process_id"], "_authenticator": browser.token}
        browser.post(f"{self.url('later')}/cancel", urlencode(form))
        wait_until(lambda: json.loads((browser.open(start["status_url"]), browser.contents)[1])["state"] == "cancelled")


class TestScheduledREST(unittest.TestCase):
    """``@async-processes`` over real HTTP: the state filter's ``scheduled``, the status's time, a cancel."""

    layer = NETSIGHT_ASYNC_RESTAPI_TESTING

    def setUp(self):
        self.addCleanup(join_workers)
        self.site_url = f"{chromium_server_url(self.layer)}/{self.layer['portal'].getId()}"
        self.member = RestClient(self.site_url, TEST_USER_NAME, TEST_USER_PASSWORD)

    def test_the_state_filter_lists_it_as_scheduled_and_a_delete_cancels_it(self):
        process_id = self.member.start("later", seconds=60)
        self.assertIn(process_id, self.member.listed("?state=scheduled"))
        self.assertNotIn(process_id, self.member.listed("?state=queued"))
        (item,) = [item for item in self.member.processes()["items"] if item["process_id"] == process_id]
        self.assertEqual(item["state"], "scheduled")
        status = self.member.process(process_id).json
        self.assertEqual((item["scheduled_for"], item["priority"]), (status["scheduled_for"], 0))  # the listing says it too
        self.assertEqual((status["state"], status["priority"]), ("scheduled", 0))
        self.assertTrue(status["progress_message"].startswith("Scheduled for "), status["progress_message"])
        self.assertNotIn("queue_position", status)
        self.assertAlmostEqual(datetime.fromisoformat(status["scheduled_for"]).timestamp(), time.time() + 60, delta=5)
        answer = self.member.delete(f"@async-processes/{process_id}")
        self.assertEqual((answer.status, answer.json["state"]), (200, "cancelled"))
        self.assertNotIn(process_id, self.member.listed("?state=scheduled"))
        self.assertEqual(self.member.listed("?state=cancelled").count(process_id), 1)


class TestRunAfterChecked(unittest.TestCase):
    """``scheduling.run_after_of``: a time no page could show is the integrator's error, raised at the start."""

    def view(self, when):
        return type("Later", (), {"run_after": when})()

    def test_a_time_past_the_year_9000_is_refused(self):
        for when in (datetime.max, datetime.max.replace(tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc)):
            with self.subTest(when=when), self.assertRaisesRegex(ValueError, "before the year 9000"):
                scheduling.run_after_of(self.view(when))

    def test_a_far_time_that_pages_show_is_taken(self):
        when = datetime(8999, 12, 1, tzinfo=timezone.utc)
        self.assertEqual(scheduling.run_after_of(self.view(when)), when.timestamp())
