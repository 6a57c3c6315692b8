"""The registry: a persistent BTree of records in the ZODB, on a real FileStorage."""

from BTrees.OOBTree import OOBTree
from netsight.asynchronous import registry
from netsight.asynchronous.replay import CapturedResponse
from ZODB import DB
from ZODB.FileStorage import FileStorage

import itertools
import tempfile
import threading
import transaction
import unittest
import uuid


TICKETS = itertools.count(1)


def START(record):
    return record.start("instance-a")


def captured(body=b"done"):
    return CapturedResponse(200, "OK", {"content-type": "text/plain"}, [], {}, body)


class TestRegistry(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)
        self.path = f"{self.directory.name}/Data.fs"
        self.db = DB(FileStorage(self.path))
        self.addCleanup(lambda: self.db.close())

    def add(self):
        """A committed record for a new process."""
        process_id = uuid.uuid4().hex
        manager = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        with manager:
            registry.add(
                connection, registry.ProcessRecord(process_id, "export", "/plone", "jane"), "instance-a", next(TICKETS)
            )
        connection.close()
        return process_id

    def read(self, process_id):
        connection = self.db.open()
        try:
            record = registry.find(connection, process_id)
            return record and (record.state, record.progress, record.error)
        finally:
            connection.close()

    def test_created_lazily_as_a_btree_in_the_zodb_root(self):
        connection = self.db.open()
        self.assertNotIn(registry.ROOT_KEY, connection.root())
        self.assertIsNone(registry.find(connection, "0" * 32))
        connection.close()
        process_id = self.add()
        connection = self.db.open()
        processes = connection.root()[registry.ROOT_KEY]
        self.assertIsInstance(processes, OOBTree)
        self.assertIsInstance(processes[process_id], registry.ProcessRecord)
        self.assertIsNot(processes[process_id]._p_oid, None)  # a persistent record of its own
        connection.close()

    def test_a_restart_loses_nothing_that_was_committed(self):
        running, done = self.add(), self.add()
        registry.change(self.db, running, START)
        registry.change(self.db, running, lambda record: record.report(42))
        registry.change(self.db, done, START)
        registry.change(self.db, done, lambda record: record.finish(captured(b"kept")))
        self.db.close()
        self.db = DB(FileStorage(self.path))
        self.assertEqual(self.read(running), (registry.RUNNING, 42, None))
        self.assertEqual(self.read(done), (registry.DONE, True, None))
        self.assertEqual(registry.take(self.db, done).body, b"kept")

    def test_take_removes_a_finished_process_only(self):
        process_id = self.add()
        self.assertIsNone(registry.take(self.db, process_id))  # not done yet: kept
        self.assertEqual(self.read(process_id)[0], registry.QUEUED)
        registry.change(self.db, process_id, START)
        registry.change(self.db, process_id, lambda record: record.finish(captured()))
        self.assertEqual(registry.take(self.db, process_id).body, b"done")
        self.assertIsNone(self.read(process_id))
        self.assertIsNone(registry.take(self.db, process_id))

    def test_of_concurrent_takers_exactly_one_gets_the_result(self):
        for _ in range(5):
            process_id = self.add()
            registry.change(self.db, process_id, START)
            registry.change(self.db, process_id, lambda record: record.finish(captured()))
            barrier = threading.Barrier(4)
            results = []

            def take():
                barrier.wait()
                results.append(registry.take(self.db, process_id))

            threads = [threading.Thread(target=take) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.assertEqual(sum(result is not None for result in results), 1)

    def test_change_of_an_unknown_process_changes_nothing(self):
        self.assertIsNone(registry.change(self.db, "0" * 32, START))

    def test_a_failure_keeps_its_error(self):
        process_id = self.add()
        registry.change(self.db, process_id, lambda record: record.fail("ValueError: bad"))
        self.assertEqual(self.read(process_id), (registry.FAILED, None, "ValueError: bad"))


class TestRuns(unittest.TestCase):
    """A job queued again after its instance was given up belongs to its new run only."""

    def record(self, **attributes):
        record = registry.ProcessRecord(uuid.uuid4().hex, "export", "/plone", "jane")
        record.instance = "a"
        for name, value in attributes.items():
            setattr(record, name, value)
        return record

    def rerunnable(self):
        return self.record(request=object(), max_reruns=1)

    def test_only_the_instance_that_queued_or_claimed_it_starts_it(self):
        record = self.record()
        self.assertFalse(record.start("b"))
        self.assertEqual(record.start("a"), 1)

    def test_the_worker_of_a_given_up_run_changes_nothing(self):
        record = self.rerunnable()
        first = record.start("a")
        self.assertTrue(record.interrupt(registry.DEAD_REASON))  # A read dead: queued again
        self.assertEqual((record.state, record.instance), (registry.QUEUED, registry.UNCLAIMED))
        self.assertTrue(record.claim("b", 1))
        second = record.start("b")
        self.assertFalse(record.is_run("a", first))  # A's late worker: not its run any more
        self.assertTrue(record.is_run("b", second))
        self.assertFalse(record.start("a"))

    def test_a_job_asked_to_stop_is_not_run_again(self):
        record = self.rerunnable()
        record.start("a")
        record.request_cancel()
        self.assertTrue(record.interrupt(registry.DEAD_REASON))
        self.assertEqual(record.state, registry.CANCELLED)
        self.assertIsNone(record.request)

    def test_a_stopped_instance_stays_stopped(self):
        root = {}
        registry.beat_in(root, "a", stopped=True)
        registry.beat_in(root, "a")  # a heartbeat after the signal
        self.assertTrue(registry.stopped(root, "a"))
