"""The registry: a persistent BTree of records in the ZODB, on a real FileStorage."""

from BTrees.OOBTree import OOBTree
from netsight.asynchronous import registry
from netsight.asynchronous import transactions
from netsight.asynchronous.replay import CapturedResponse
from netsight.asynchronous.storage import ProcessStore
from netsight.asynchronous.tests.helpers.base import hold_the_writer
from netsight.asynchronous.tests.helpers.base import wait_until
from ZODB import DB
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

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

    def test_created_lazily_as_one_store_in_the_zodb_root(self):
        connection = self.db.open()
        self.assertNotIn(registry.ROOT_KEY, connection.root())
        self.assertIsNone(registry.find(connection, "0" * 32))
        connection.close()
        process_id = self.add()
        connection = self.db.open()
        self.assertEqual([key for key in connection.root() if key.startswith("netsight")], [registry.ROOT_KEY])
        processes = connection.root()[registry.ROOT_KEY]
        self.assertIsInstance(processes, ProcessStore)
        self.assertIsInstance(processes.records, OOBTree)
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

    def test_take_takes_the_result_of_a_finished_process_only(self):
        process_id = self.add()
        self.assertIsNone(registry.take(self.db, process_id))  # not done yet: kept
        self.assertEqual(self.read(process_id)[0], registry.QUEUED)
        registry.change(self.db, process_id, START)
        registry.change(self.db, process_id, lambda record: record.finish(captured()))
        self.assertEqual(registry.take(self.db, process_id).body, b"done")
        # One-shot: the result goes; the record stays, to tell its owner, until its expiry.
        self.assertEqual(registry.change(self.db, process_id, lambda record: record.result_gone()), True)
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

    def test_a_take_waits_for_the_instances_turn_to_write(self):
        # A fetch's take writes the indexes that the instance's starts and job ends
        # write: it takes its turn with them (transactions.WRITER), instead of
        # conflicting and retrying after a pause.
        process_id = self.add()
        registry.change(self.db, process_id, START)
        registry.change(self.db, process_id, lambda record: record.finish(captured()))
        let_go = hold_the_writer(self)
        taken = []
        taker = threading.Thread(target=lambda: taken.append(registry.take(self.db, process_id)), daemon=True)
        taker.start()
        wait_until(lambda: transactions.waiting() == 1, 30)
        self.assertEqual(taken, [])
        let_go()
        taker.join(30)
        self.assertEqual([response.body for response in taken], [b"done"])

    def test_change_of_an_unknown_process_changes_nothing(self):
        self.assertIsNone(registry.change(self.db, "0" * 32, START))

    def test_a_failure_keeps_its_error(self):
        process_id = self.add()
        registry.change(self.db, process_id, lambda record: record.fail("ValueError: bad"))
        self.assertEqual(self.read(process_id), (registry.FAILED, None, "ValueError: bad"))


class TestStartsAndRemoval(unittest.TestCase):
    """A start and the registry's removal (an uninstall) at the same time, on
    two connections of a real FileStorage: whichever commits first, the
    other conflicts, so that no process goes to trees the root no longer
    holds; two starts, or a start and an end or a heartbeat, never conflict."""

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)
        self.db = DB(FileStorage(f"{self.directory.name}/Data.fs"))
        self.addCleanup(lambda: self.db.close())

    def starting(self, site="/b"):
        """A start whose transaction added its record and has not committed yet: (commit, process id)."""
        manager = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        self.addCleanup(connection.close)
        manager.begin()
        process_id = registry.new_process_id()
        record = registry.ProcessRecord(process_id, "export", site, "jane", site=site)
        registry.add(connection, record, "instance-a", next(TICKETS))
        return manager, process_id

    def start(self, site="/b"):
        manager, process_id = self.starting(site)
        manager.commit()
        return process_id

    def remove_site(self, site="/a"):
        """removal.remove_site's writes, in a transaction of its own: whether the registry went."""
        return registry.in_own_transaction(
            self.db, lambda root: (registry.remove_site(root, site), registry.remove_all(root))[1], attempts=1
        )

    def find(self, process_id):
        connection = self.db.open()
        try:
            record = registry.find(connection, process_id)
            return record and record.state
        finally:
            connection.close()

    def root_keys(self):
        connection = self.db.open()
        try:
            return sorted(key for key in connection.root() if key.startswith("netsight.async"))
        finally:
            connection.close()

    def test_a_start_that_read_the_registry_before_its_removal_conflicts(self):
        for last in (False, True):  # a registry whose processes went one by one (fetched, expired), or /a's last one
            with self.subTest(last_process_of_a=last):
                gone = self.start("/a")
                if not last:
                    registry.in_own_transaction(self.db, lambda root, gone=gone: registry.remove(root, gone))
                manager, process_id = self.starting("/b")
                self.assertTrue(self.remove_site("/a"))  # the uninstall commits first: no process was left
                with self.assertRaises(ConflictError):  # else /b's process went to trees no root holds
                    manager.commit()
                manager.abort()
                self.assertIsNone(self.find(process_id))
                self.assertEqual(self.root_keys(), [])
                # Zope's retry of the start: the registry is made anew, and holds it.
                retried = self.start("/b")
                self.assertEqual(self.find(retried), registry.QUEUED)
                self.assertEqual(self.root_keys(), [registry.ROOT_KEY])
                registry.in_own_transaction(self.db, lambda root, pid=retried: registry.remove(root, pid))
                self.assertTrue(self.remove_site("/b"))

    def test_a_removal_conflicts_with_a_start_that_committed_first(self):
        for earlier in ((), ("/a",), ("/a", "/a", "/a")):  # an empty registry, or the site's last processes
            with self.subTest(processes_of_a=len(earlier)):
                for site in earlier:
                    self.start(site)
                if not earlier:  # a registry whose processes went one by one (fetched, expired)
                    gone = self.start("/a")
                    registry.in_own_transaction(self.db, lambda root, gone=gone: registry.remove(root, gone))
                manager = transaction.TransactionManager()
                connection = self.db.open(transaction_manager=manager)
                manager.begin()
                root = connection.root()
                registry.remove_site(root, "/a")
                self.assertTrue(registry.remove_all(root))
                process_id = self.start("/b")  # commits first
                with self.assertRaises(ConflictError):
                    manager.commit()
                manager.abort()
                connection.close()
                self.assertEqual(self.find(process_id), registry.QUEUED)
                self.assertFalse(self.remove_site("/a"))  # /b's process keeps the registry
                registry.in_own_transaction(self.db, lambda root: registry.remove(root, process_id))
                self.assertTrue(self.remove_site("/a"))

    def test_concurrent_starts_ends_and_heartbeats_do_not_conflict(self):
        first = self.start("/a")
        registry.change(self.db, first, START)
        starts = [self.starting(site) for site in ("/a", "/b", "/a")]
        # Meanwhile the registry's first end, and an instance's first heartbeat, commit.
        registry.change(self.db, first, lambda record: record.finish(captured()), attempts=1)
        registry.in_own_transaction(self.db, lambda root: registry.beat_in(root, "instance-b"), attempts=1)
        for manager, _process_id in starts:
            manager.commit()  # no ConflictError
        for _manager, process_id in starts:
            self.assertEqual(self.find(process_id), registry.QUEUED)
        self.assertEqual(self.find(first), registry.DONE)


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
        self.assertTrue(record.assign_to("b", 1))
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
        self.assertTrue(registry.is_stopped(root, "a"))
