"""Automatic retries (issue 27, point 5b): a view's ``retry_on``/``max_retries`` retry a failed attempt later, as a scheduled process."""

from datetime import datetime
from urllib.parse import urlencode

from netsight.asynchronous import registry
from netsight.asynchronous import retries
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.tests.helpers.retry_views import RUNS
from netsight.asynchronous.tests.helpers.retry_views import SEEN
from netsight.asynchronous.tests.test_scheduled import ScheduledTestCase

import lxml.html
import random
import transaction
import unittest
import uuid


class TestBackoff(unittest.TestCase):
    """``retries.backoff_delay``: exponential, with jitter, capped."""

    def delays(self, seed, base=1.0, cap=60.0, attempts=12):
        rng = random.Random(seed)
        return [retries.backoff_delay(attempt, base, cap, rng) for attempt in range(1, attempts + 1)]

    def test_the_delay_doubles_with_each_attempt_less_at_most_half_of_it(self):
        for seed in range(20):
            delays = self.delays(seed)
            for attempt, delay in enumerate(delays, start=1):
                full = min(60.0, 2.0 ** (attempt - 1))
                self.assertLessEqual(delay, full)
                self.assertGreaterEqual(delay, full / 2)
            growing = delays[:6]  # 1, 2, 4, 8, 16, 32: the cap (60) is not reached yet
            self.assertEqual(growing, sorted(growing), seed)

    def test_the_delay_never_exceeds_the_cap(self):
        delays = self.delays(3, base=5.0, cap=30.0, attempts=30)
        self.assertLessEqual(max(delays), 30.0)
        self.assertGreaterEqual(min(delays[3:]), 15.0)  # 5 * 2**3 = 40 > 30: capped, less at most half
        self.assertAlmostEqual(retries.backoff_delay(1000, 5.0, 30.0, random.Random(3)), delays[0] * 30.0 / 5.0)

    def test_the_jitter_comes_from_the_given_random_source(self):
        self.assertEqual(self.delays(42), self.delays(42))
        self.assertNotEqual(self.delays(42), self.delays(43))
        self.assertAlmostEqual(retries.backoff_delay(3, 2.0, 600.0, random.Random(1)), 8.0 * (1 - 0.5 * random.Random(1).random()))


class TestBackoffDeclared(unittest.TestCase):
    """What a view declares of its backoff (``retries.wanted``): a number of seconds, at most ``LONGEST_BACKOFF``."""

    def auto_retry(self, base, cap=None):
        declared = {"retry_on": RuntimeError, "max_retries": 2, "retry_backoff": base}
        if cap is not None:
            declared["retry_backoff_max"] = cap
        return retries.wanted(type("Failing", (), declared)(), RuntimeError("boom"))

    def test_an_endless_or_huge_backoff_is_the_longest(self):
        """``inf`` scheduled an attempt at infinity: it never ran, and its pages answered 500."""
        for base, cap in ((float("inf"), float("inf")), (1e12, 1e12), (float("inf"), None)):
            with self.subTest(base=base, cap=cap):
                delay = self.auto_retry(base, cap).delay(5, random.Random(1))
                self.assertLessEqual(delay, retries.LONGEST_BACKOFF)
                self.assertGreater(delay, 0)

    def test_nan_is_the_default(self):
        auto_retry = self.auto_retry(float("nan"), float("nan"))
        self.assertEqual((auto_retry.base, auto_retry.cap), (retries.DEFAULT_BACKOFF, retries.DEFAULT_BACKOFF_MAX))


class TestKeptRequest(unittest.TestCase):
    """What an attempt of a view with automatic retries keeps of its request once it ended."""

    def ended(self, end):
        record = registry.ProcessRecord(registry.new_process_id(), "fails-until", "/plone", "alice")
        record.max_attempts = 4
        record.time_limit = 1
        record.request = kept = object()  # its StoredRequest, as a start keeps it
        record.start(record.instance)
        self.assertTrue(end(record))  # it ended so
        return record.retry_request is kept

    def test_a_failure_keeps_it_for_the_next_attempt(self):
        self.assertTrue(self.ended(lambda record: record.fail("Flaky: run 1 failed")))

    def test_an_interruption_or_a_time_out_keeps_nothing_that_nobody_would_run(self):
        self.assertFalse(self.ended(lambda record: record.interrupt(registry.DEAD_REASON)))
        self.assertFalse(self.ended(lambda record: record.time_out(now=10**10)))
        self.assertFalse(self.ended(lambda record: record.cancelled()))


class TestFailureWithoutRetry(unittest.TestCase):
    """A failure that no automatic retry follows (a worker that could not start or take the job): its request
    stays only for a Retry button (``retries.without_automatic_retry``, which ``claims._give_up`` and
    ``retrybutton._run_here`` write with the failure)."""

    def failed(self, retryable):
        record = registry.ProcessRecord(registry.new_process_id(), "fails-until", "/plone", "alice")
        record.max_attempts, record.retryable = 4, retryable
        record.request = kept = object()
        record.start(record.instance)
        self.assertTrue(record.fail("the worker could not be started") and retries.without_automatic_retry(record))
        return record.retry_request is kept

    def test_without_a_retry_button_nothing_is_kept(self):
        self.assertFalse(self.failed(retryable=False))

    def test_with_a_retry_button_the_request_stays_for_it(self):
        self.assertTrue(self.failed(retryable=True))


class RetriesTestCase(ScheduledTestCase):
    """A job of ``fails-until`` started with a token of its own; the maintenance thread claims its retries."""

    view = "fails-until"

    def start(self, view=None, **form):
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        self.addCleanup(SEEN.pop, token, None)
        url = self.url(view or self.view)
        return url, self.browser.start(url, token=token, **form), token

    def chain(self, url, process_id):
        """Wait for each attempt from ``process_id`` on to end; their JSON answers, in order."""
        answers = []
        while True:
            answer = self.browser.wait_for(url, process_id)
            answers.append(answer)
            if answer["retried_by"] is None:
                return answers
            process_id = answer["retried_by"]

    def page(self, url, process_id):
        self.browser.open(f"{url}/processing?process_id={process_id}")
        return self.browser.text


class TestAutomaticRetries(RetriesTestCase):

    def test_a_job_failing_twice_then_succeeding_ends_done_on_attempt_3(self):
        url, first, token = self.start(fail_times="2", retries="3")
        answers = self.chain(url, first)
        self.assertEqual([a["state"] for a in answers], ["failed", "failed", "done"])
        self.assertEqual([a["attempt"] for a in answers], [1, 2, 3])
        self.assertEqual({a["max_attempts"] for a in answers}, {4})
        ids = [a["process_id"] for a in answers]
        self.assertEqual([a["retry_of"] for a in answers], [None, *ids[:2]])
        self.assertEqual([a["retried_by"] for a in answers], [*ids[1:], None])
        self.assertEqual([pid for pid, _at in RUNS[token]], ids)  # each attempt ran once, with the same request
        self.assertEqual(self.browser.result(url, ids[2]), "Done on run 3")
        for before, after in zip(ids, ids[1:]):  # each waited for its backoff, scheduled
            failed, retry = self.fresh_record(before), self.fresh_record(after)
            self.assertGreaterEqual(retry.run_after - failed.finished, 0.05 * (retry.attempt - 1) - 0.01)
            self.assertLessEqual(retry.run_after - failed.finished, 0.3 + 0.05)
            self.assertGreaterEqual(retry.started, retry.run_after)
            self.assertIsNone(failed.retry_request)  # the request went with the next attempt

    def test_a_failed_attempts_own_writes_are_rolled_back_before_its_retry_runs(self):
        url, first, token = self.start(fail_times="2", retries="3")
        self.chain(url, first)
        self.assertEqual(SEEN[token], [None, None, None])  # no retry saw the mark its failed attempt wrote
        transaction.begin()
        self.assertEqual(self.portal._auto_retry_mark, f"{token}-3")  # the done one's is kept

    def test_an_exception_not_in_retry_on_is_not_retried(self):
        url, first, token = self.start(fail_times="1", retries="3", wrong="1")
        (answer,) = self.chain(url, first)
        self.assertEqual((answer["state"], answer["retried_by"], answer["retryable"]), ("failed", None, False))
        self.assertNotIn("attempt_message", answer)
        self.assertEqual(len(RUNS[token]), 1)
        self.assertIsNone(self.fresh_record(first).retry_request)  # nothing will run it again: its request went

    def test_max_retries_exhausted_ends_failed_with_no_successor(self):
        url, first, token = self.start(fail_times="10", retries="2")
        answers = self.chain(url, first)
        self.assertEqual([a["state"] for a in answers], ["failed"] * 3)
        last = answers[-1]
        self.assertEqual((last["attempt"], last["max_attempts"], last["retried_by"]), (3, 3, None))
        self.assertEqual(last["attempt_message"], "Attempt 3 of 3 failed")
        self.assertEqual(len(RUNS[token]), 3)
        self.assertIsNone(self.fresh_record(last["process_id"]).retry_request)

    def test_a_job_that_committed_work_of_its_own_is_not_retried(self):
        url, first, token = self.start(fail_times="1", retries="3", commit="1")
        (answer,) = self.chain(url, first)
        self.assertEqual((answer["state"], answer["retried_by"]), ("failed", None))
        self.assertEqual(len(RUNS[token]), 1)

    def test_retry_after_commit_retries_a_job_that_committed_work(self):
        url, first, token = self.start("fails-until-after-commit", fail_times="1", retries="3", commit="1")
        answers = self.chain(url, first)
        self.assertEqual([a["state"] for a in answers], ["failed", "done"])
        self.assertEqual(SEEN[token], [None, f"{token}-1"])  # its commit stayed: the retry found it


class TestRetryTexts(RetriesTestCase):
    """A retry that waits a minute: the pages and JSON of both attempts, then a cancel of the scheduled one."""

    def setUp(self):
        super().setUp()
        self.tokens = {}

    def token_of(self, process_id):
        return self.tokens[process_id]

    def failed_and_waiting(self, view=None):
        url, first, token = self.start(view, fail_times="1", retries="3", backoff="60", backoff_max="60")
        self.tokens[first] = token
        answer = self.browser.wait_for(url, first)
        self.assertEqual(answer["state"], "failed")
        second = answer["retried_by"]
        self.assertIsNotNone(second)
        record = self.fresh_record(second)
        self.assertEqual(record.state, "scheduled")
        return url, first, second, record.run_after

    def test_the_failed_attempt_and_the_scheduled_one_say_so_and_a_cancel_stops_the_chain(self):
        url, first, second, due = self.failed_and_waiting()
        at = datetime.fromtimestamp(due)
        clock = f"{at:%H:%M:%S}" if at.date() == datetime.now().date() else f"{at:%Y-%m-%d %H:%M:%S}"
        answer = self.browser.poll(url, first)
        self.assertEqual(answer["attempt_message"], f"Attempt 1 of 4 failed; attempt 2 is scheduled for {clock}")
        self.assertEqual(datetime.fromisoformat(answer["next_attempt_at"]).timestamp(), int(due))
        html = self.page(url, first)
        self.assertIn(f"Attempt 1 of 4 failed; attempt 2 is scheduled for {clock}", page_part(html, "attempt").text_content())
        link = page_part(html, "retried-by").cssselect("a")[0]
        self.assertTrue(link.get("href").endswith(f"/processing?process_id={second}"))
        self.assertEqual(lxml.html.fromstring(html).cssselect("form.netsight-async-retry"), [])  # no button: it is retried

        waiting = self.browser.poll(url, second)
        self.assertEqual((waiting["state"], waiting["attempt"], waiting["max_attempts"]), ("scheduled", 2, 4))
        self.assertEqual((waiting["retry_of"], waiting["retried_by"]), (first, None))
        # Which attempt it is, and when it runs: each said once (the status line to the second: a retry waits seconds).
        self.assertEqual(waiting["progress_message"], f"Scheduled for {clock}")
        self.assertEqual(waiting["attempt_message"], "Attempt 2 of 4")
        self.assertEqual(waiting["elapsed"], 0.0)  # nothing ran yet
        self.assertAlmostEqual(datetime.fromisoformat(waiting["scheduled_for"]).timestamp(), due, delta=1)
        html = self.page(url, second)
        self.assertEqual(page_part(html, "attempt-text").text_content(), "Attempt 2 of 4")
        self.assertEqual(page_part(html, "status").text_content(), f"Scheduled for {clock}")
        self.assertEqual(lxml.html.fromstring(html).get_element_by_id("netsight-async-processing").text_content().count(clock), 1)

        self.browser.post(f"{url}/cancel", urlencode({"process_id": second, "_authenticator": self.browser.token}))
        self.assertEqual(self.browser.status, 303)
        cancelled = self.browser.poll(url, second)
        self.assertEqual((cancelled["state"], cancelled["retried_by"]), ("cancelled", None))
        self.assertEqual(cancelled["attempt_message"], "Attempt 2 of 4")  # no time: nothing waits any more
        after = self.browser.poll(url, first)
        self.assertEqual(after["attempt_message"], "Attempt 1 of 4 failed")  # nothing is scheduled any more
        self.assertNotIn("next_attempt_at", after)
        transaction.begin()
        self.assertEqual(self.fresh_record(second).state, "cancelled")  # an end: the chain stops, nothing queues it

    def test_the_texts_in_german_and_italian(self):
        url, first, second, due = self.failed_and_waiting()
        at = datetime.fromtimestamp(due)
        clock = f"{at:%H:%M:%S}" if at.date() == datetime.now().date() else f"{at:%Y-%m-%d %H:%M:%S}"
        self.browse_in("de")
        self.assertEqual(
            self.browser.poll(url, first)["attempt_message"],
            f"Versuch 1 von 4 fehlgeschlagen; Versuch 2 ist für {clock} geplant",
        )
        self.assertEqual(self.browser.poll(url, second)["progress_message"], f"Geplant für {clock}")
        self.assertEqual(self.browser.poll(url, second)["attempt_message"], "Versuch 2 von 4")
        self.browser.addHeader("Accept-Language", "it")
        self.assertEqual(
            self.browser.poll(url, first)["attempt_message"],
            f"Tentativo 1 di 4 non riuscito; il tentativo 2 è programmato per le {clock}",
        )
        self.assertEqual(self.browser.poll(url, second)["progress_message"], f"Avvio previsto: {clock}")
        self.assertEqual(self.browser.poll(url, second)["attempt_message"], "Tentativo 2 di 4")
        self.browser.post(f"{url}/cancel", urlencode({"process_id": second, "_authenticator": self.browser.token}))

    def test_a_scheduled_retry_of_an_only_once_job_holds_its_key(self):
        url, first, second, due = self.failed_and_waiting("fails-until-once")
        again = self.browser.start(url, token=self.token_of(first), fail_times="1", retries="3")
        self.assertEqual(again, second)  # the waiting retry answers: no other process
        self.browser.post(f"{url}/cancel", urlencode({"process_id": second, "_authenticator": self.browser.token}))
        self.assertEqual(self.browser.poll(url, second)["state"], "cancelled")
        third = self.browser.start(url, token=self.token_of(first), fail_times="1", retries="3")
        self.assertNotIn(third, (first, second))  # cancelled: the key is free again


class TestCancelStopsRetries(RetriesTestCase):
    """A cancel asked while an attempt runs ends the chain, whatever the attempt then raises."""

    def test_an_attempt_cancelled_while_running_that_then_fails_ends_cancelled_with_no_successor(self):
        from netsight.asynchronous.tests.helpers.base import wait_until
        from netsight.asynchronous.tests.helpers.views import new_gate
        from netsight.asynchronous.tests.helpers.views import GATES

        gate = new_gate(self)
        url = self.url("retried-at-gate")  # retry_on Flaky, max_retries 1; it never reports, so never sees the cancel
        process_id = self.browser.start(url, gate=gate)
        wait_until(lambda: self.browser.poll(url, process_id)["state"] == "running", what="the attempt to run")
        self.browser.post(f"{url}/cancel", urlencode({"process_id": process_id, "_authenticator": self.browser.token}))
        self.assertEqual(self.browser.status, 303)
        GATES[gate].set()  # it raises Flaky, one of its retry_on
        answer = self.browser.wait_for(url, process_id)
        self.assertEqual((answer["state"], answer["retried_by"]), ("cancelled", None))
        self.assertNotIn("attempt_message", answer)
        record = self.fresh_record(process_id)
        self.assertEqual((record.state, record.retried_by, record.retry_request), ("cancelled", None, None))
        self.assertIn("Flaky", record.error)  # what it raised, for Managers


class TestRetryMail(RetriesTestCase):
    """``notify = "mail"``: the attempt that succeeds mails its owner (a real SMTP server), with its own link."""

    def test_the_owner_of_a_job_done_on_its_retry_is_mailed_the_retrys_result(self):
        from netsight.asynchronous import notify
        from netsight.asynchronous.maintenance import MAINTENANCE
        from netsight.asynchronous.tests.helpers.base import idle_pool
        from netsight.asynchronous.tests.helpers.smtp import SMTPServer
        from plone.app.testing import TEST_USER_ID
        from plone.registry.interfaces import IRegistry
        from zope.component import getUtility

        server = SMTPServer(refuse=False).__enter__()
        self.addCleanup(server.__exit__)
        self.addCleanup(setattr, notify, "GRACE_POLLS", notify.GRACE_POLLS)
        notify.GRACE_POLLS = 1000  # no mail pass of the maintenance thread sends it before this test's
        self.portal.portal_membership.getMemberById(TEST_USER_ID).setMemberProperties({"email": "member@example.com"})
        site_settings = getUtility(IRegistry, context=self.portal)
        site_settings["plone.email_from_address"] = "noreply@example.com"
        site_settings["plone.smtp_host"] = "127.0.0.1"
        site_settings["plone.smtp_port"] = server.port
        transaction.commit()
        url, first, token = self.start("fails-until-mails", fail_times="1", retries="1")
        answers = self.chain(url, first)  # its tab polls JSON only: the result is never shown
        self.assertEqual([a["state"] for a in answers], ["failed", "done"])
        idle_pool()
        with MAINTENANCE._pass:
            notify.GRACE_POLLS = 0
            notify.mail_pass(self.app._p_jar.db())
        (_sender, recipients, message) = server.received.get(timeout=5)
        self.assertEqual(recipients, ["member@example.com"])
        text = message.get_body(("plain",)).get_content()
        second = answers[1]["process_id"]
        self.assertIn(f"/result?process_id={second}", text)  # the retry's result, not the failed attempt's
        self.assertNotIn(first, text)
        self.assertTrue(server.received.empty())
