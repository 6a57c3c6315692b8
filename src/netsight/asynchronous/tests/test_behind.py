"""Job ends written behind (behind.py): committed together by the writer thread while the job threads run on."""

from netsight.asynchronous import behind
from netsight.asynchronous import cancels
from netsight.asynchronous import registry
from netsight.asynchronous import worker
from netsight.asynchronous.pool import AHEAD
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import DEADLINE
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import hold_the_writer
from netsight.asynchronous.tests.helpers.base import idle_pool
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers import limited_views
from ZODB.MappingStorage import MappingStorage

import time
import unittest
import ZODB


def note(name):
    """A write that sets ``root[name]`` and returns its transaction."""

    def write(root):
        root[name] = True
        return root._p_jar.transaction_manager.get()

    return write


def fails(root):
    root["failed"] = True
    raise ValueError("this write fails")


class TestWriter(unittest.TestCase):
    """The writer commits what waits, together; one that fails, alone."""

    def setUp(self):
        self.db = ZODB.DB(MappingStorage())
        self.addCleanup(self.db.close)
        self.addCleanup(behind.WRITER.flush, DEADLINE)

    def root(self):
        connection = self.db.open()
        self.addCleanup(connection.close)
        return connection.root()

    def held(self, *funcs):
        """``funcs`` handed over while another thread has the turn to write: the
        first is taken alone (the writer waits for the turn with it), the others
        wait for it; then the turn is let go. Their writes, once all written."""
        let_go = hold_the_writer(self)
        first = behind.WRITER.submit(self.db, funcs[0])
        wait_until(lambda: behind.WRITER.pending() == 1 and not behind.WRITER._queue, what="the writer to take the first")
        others = [behind.WRITER.submit(self.db, func) for func in funcs[1:]]
        self.assertFalse(behind.WRITER.flush(timeout=0.05))  # nothing can be committed while the turn is held
        let_go()
        self.assertTrue(behind.WRITER.flush(DEADLINE))
        return [first, *others]

    def test_the_writes_that_wait_are_committed_in_one_transaction(self):
        first, second, third = self.held(note("first"), note("second"), note("third"))
        self.assertIs(second.wait(), third.wait())
        self.assertIsNot(first.wait(), second.wait())
        self.assertEqual(sorted(self.root()), ["first", "second", "third"])

    def test_one_that_fails_fails_alone(self):
        first, failed, third = self.held(note("first"), fails, note("third"))
        with self.assertRaises(ValueError):
            failed.wait()
        self.assertEqual(sorted(self.root()), ["first", "third"])

    def test_a_write_that_fails_alone_calls_its_on_failure(self):
        errors = []
        write = behind.Write(self.db, fails, on_failure=errors.append)
        behind.WRITER.hand_over(write)
        with self.assertRaises(ValueError):
            write.wait(DEADLINE)
        wait_until(lambda: errors, what="on_failure")
        self.assertIsInstance(errors[0], ValueError)
        self.assertNotIn("failed", self.root())

    def test_when_settled_is_called_once_settled_or_at_once(self):
        calls = []
        write = behind.Write(self.db, note("one"))
        write.when_settled(lambda: calls.append("before"))
        self.assertEqual(calls, [])
        behind.WRITER.hand_over(write).wait(DEADLINE)
        wait_until(lambda: calls == ["before"], what="the call once settled")
        write.when_settled(lambda: calls.append("after"))
        self.assertEqual(calls, ["before", "after"])

    def test_the_thread_ends_when_idle_and_a_write_starts_it_again(self):
        behind.WRITER.submit(self.db, note("one")).wait(DEADLINE)
        wait_until(lambda: behind.WRITER._thread is None, what="the idle writer thread to end")
        behind.WRITER.submit(self.db, note("two")).wait(DEADLINE)
        self.assertEqual(sorted(self.root()), ["one", "two"])


class TestEndsWrittenBehind(JobTestCase):
    """One pool thread, jobs waiting: it runs the job started ahead while its last end is still being written."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        setting(self, "job-threads", 1)
        setting(self, "max-per-user", 0)

    def state(self, job):
        return self.fresh_record(job.process_id).state

    def second_runs_third_ahead(self):
        """A first job held, then two more: the first's end (waited for) starts both; the
        second runs, the third waits started ahead. Returns the second and the third."""
        first = HeldJob(self)
        self.assertEqual(first.reached(), "returning")
        second, third = HeldJob(self), HeldJob(self)
        first.go_on()
        self.assertEqual(second.reached(), "returning")
        return second, third

    def test_the_next_job_runs_before_the_end_of_the_last_is_committed(self):
        self.patch_started_late(3600.0)  # however slow the machine, the third starts with its clock of then
        second, third = self.second_runs_third_ahead()
        self.assertEqual(self.state(third), registry.RUNNING)  # started ahead, not run yet
        let_go = hold_the_writer(self)
        second.go_on()  # its end waits for the turn to write: the third runs meanwhile
        self.assertEqual(third.reached(), "returning")
        self.assertEqual(self.state(second), registry.RUNNING)
        self.assertTrue(POOL.holds(second.process_id))  # the heartbeat does not read it lost meanwhile
        let_go()
        wait_until(lambda: self.state(second) == registry.DONE, what="the second's end")
        self.assertEqual(second.finish()["state"], "done")
        self.assertEqual(third.finish()["state"], "done")

    def test_a_job_started_ahead_that_waited_starts_its_clock_as_it_runs(self):
        self.patch_started_late(0.0)
        second, third = self.second_runs_third_ahead()
        started_ahead = self.fresh_record(third.process_id).started
        before = time.time()
        second.go_on()
        self.assertEqual(third.reached(), "returning")
        self.assertEqual(third.finish()["state"], "done")
        started = self.fresh_record(third.process_id).started
        self.assertGreaterEqual(started, before)
        self.assertLess(started_ahead, before)

    def test_a_job_started_ahead_and_cancelled_before_it_runs_never_runs(self):
        self.patch_started_late(3600.0)
        second, third = self.second_runs_third_ahead()
        self.assertEqual(self.state(third), registry.RUNNING)  # started ahead
        db = self.app._p_jar.db()
        registry.change(db, third.process_id, registry.ProcessRecord.request_cancel)  # as the cancel button does
        cancels.ask_to_cancel(third.process_id)
        second.go_on()
        self.assertEqual(second.finish()["state"], "done")
        wait_until(lambda: self.state(third) == registry.CANCELLED, what="the third cancelled")
        idle_pool()
        self.assertTrue(third.steps.reached.empty(), "the cancelled job ran")

    def test_a_job_with_a_time_limit_is_never_started_ahead(self):
        self.patch_started_late(3600.0)
        first = HeldJob(self)
        self.assertEqual(first.reached(), "returning")
        second = HeldJob(self)
        gate = limited_views.new_gate(self)
        limited = self.browser.start(self.url("limited-silent"), gate=gate)
        first.go_on()  # its end starts the second, not the limited job: its clock would run as it waits
        self.assertEqual(second.reached(), "returning")
        self.assertEqual(self.fresh_record(limited).state, registry.QUEUED)
        second.go_on()  # now it is the next: it runs
        self.assertTrue(limited_views.STARTED[gate].wait(DEADLINE))
        self.assertEqual(second.finish()["state"], "done")

    def test_in_a_burst_up_to_depth_a_thread_wait_started_ahead(self):
        self.patch_started_late(3600.0)
        self.addCleanup(setattr, worker, "DEPTH", worker.DEPTH)
        worker.DEPTH = 2  # one thread: two wait started ahead, at most
        first = HeldJob(self)
        self.assertEqual(first.reached(), "returning")
        jobs = [HeldJob(self) for _ in range(6)]
        first.go_on()  # its end (waited for) starts the next and one ahead
        self.assertEqual(jobs[0].reached(), "returning")
        jobs[0].go_on()  # its end (written behind) starts two more: two wait started
        self.assertEqual(jobs[1].reached(), "returning")
        self.assertTrue(behind.WRITER.flush(DEADLINE))  # that end, and the two starts, written
        self.assertEqual(self.states(jobs[2:]), [registry.RUNNING] * 2 + [registry.QUEUED] * 2)
        # A claim may still take AHEAD to wait in the queue: the two started ahead take none of those places.
        self.assertEqual(POOL.room(ahead=AHEAD), AHEAD - 2)
        jobs[1].go_on()  # two wait started: its end starts one more
        self.assertEqual(jobs[2].reached(), "returning")
        self.assertTrue(behind.WRITER.flush(DEADLINE))
        self.assertEqual(self.states(jobs[3:]), [registry.RUNNING] * 2 + [registry.QUEUED])
        for job in jobs[2:]:
            self.assertEqual(job.finish()["state"], "done")

    def states(self, jobs):
        return [self.state(job) for job in jobs]

    def patch_started_late(self, seconds):
        """A job started ahead begins late after ``seconds``; every job of the test is short
        (its end starts two, however slow the machine)."""
        for name, value in (("STARTED_LATE", seconds), ("SHORT_JOB", 3600.0)):
            self.addCleanup(setattr, worker, name, getattr(worker, name))
            setattr(worker, name, value)
