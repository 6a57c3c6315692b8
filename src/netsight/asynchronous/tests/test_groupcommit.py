"""The group commit (groupcommit.py): writes that wait together commit in one transaction, each gets its own answer.

A real ZODB (a FileStorage in a temporary directory) and real threads. A
first write holds the turn (its function waits on an Event, inside its
transaction) while the others arrive; the turn is a lock that counts the
threads arriving at it, so that no sleep decides when they all wait. Every
write adds one to a counter in the database, besides its own key: the
counter says that no write was lost and none committed twice.
"""

from BTrees.OOBTree import OOBTree
from unittest import mock
from ZODB.DemoStorage import DemoStorage
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from netsight.asynchronous import claims
from netsight.asynchronous import maintenance
from netsight.asynchronous import registry
from netsight.asynchronous.groupcommit import GroupCommit

import shutil
import tempfile
import threading
import unittest
import ZODB


TIMEOUT = 30  # seconds: only for a test that would otherwise hang
WRITERS = 4  # the threads that arrive while the first write holds the turn


class ArrivalLock:
    """A lock that says (``arrived``, a semaphore) each time a thread comes to take it."""

    def __init__(self, arrived):
        self._lock = threading.Lock()
        self.arrived = arrived

    def __enter__(self):
        self.arrived.release()
        self._lock.acquire()
        return self

    def __exit__(self, *exc_info):
        self._lock.release()


class TestGroupCommit(unittest.TestCase):
    def setUp(self):
        directory = tempfile.mkdtemp(prefix="netsight-async-groupcommit-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        self.storage = FileStorage(f"{directory}/Data.fs")
        self.db = ZODB.DB(self.storage)
        self.addCleanup(self.db.close)
        with self.db.transaction() as connection:
            connection.root()["written"] = OOBTree()
            connection.root()["count"] = 0
        self.group_commit = GroupCommit()
        self.arrived = threading.Semaphore(0)
        self.group_commit._turn = ArrivalLock(self.arrived)
        self.answers = {}  # name -> ("result", value) or ("error", exception)
        self.threads = []

    def transactions(self):
        return sum(1 for _txn in self.storage.iterator())

    def written(self):
        with self.db.transaction() as connection:
            root = connection.root()
            return dict(root["written"]), root["count"]

    @staticmethod
    def setter(name, fails=None):
        """A write of ``name`` (its key, and one more in the count) that answers ``name``; ``fails()`` may raise."""

        def write(root):
            root["written"][name] = True
            root["count"] += 1
            if fails is not None:
                fails()
            return f"answer of {name}"

        return write

    def writer(self, name, func):
        """A thread that writes ``func`` through the group commit; its answer goes to ``self.answers``."""

        def run():
            try:
                self.answers[name] = ("result", self.group_commit.write(self.db, func))
            except BaseException as exc:
                self.answers[name] = ("error", exc)

        thread = threading.Thread(target=run, name=f"writer {name}", daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def arrive(self, count):
        for _ in range(count):
            self.assertTrue(self.arrived.acquire(timeout=TIMEOUT), "a writer never came to the turn")

    def first_holds_the_turn(self):
        """A first write that holds the turn, inside its transaction, until the returned Event is set."""
        holding, go = threading.Event(), threading.Event()

        def held(root):
            holding.set()
            self.assertTrue(go.wait(TIMEOUT))
            return self.setter("first")(root)

        self.writer("first", held)
        self.assertTrue(holding.wait(TIMEOUT))
        self.arrive(1)
        return go

    def join(self):
        for thread in self.threads:
            thread.join(TIMEOUT)
            self.assertFalse(thread.is_alive(), f"{thread.name} is still waiting")

    def test_writes_that_wait_together_commit_in_one_transaction_and_each_gets_its_answer(self):
        before = self.transactions()
        go = self.first_holds_the_turn()
        names = [f"w{n}" for n in range(WRITERS)]
        for name in names:
            self.writer(name, self.setter(name))
        self.arrive(WRITERS)  # all of them wait for the turn now
        go.set()
        self.join()
        self.assertEqual(self.answers, {name: ("result", f"answer of {name}") for name in ["first", *names]})
        # The first alone, then the four that waited in one transaction: 2, not 5.
        self.assertEqual(self.transactions() - before, 2)
        self.assertEqual((self.group_commit.groups, self.group_commit.grouped), (1, WRITERS))
        self.assertEqual((self.group_commit.transactions, self.group_commit.writes), (2, WRITERS + 1))
        self.assertEqual(self.written(), (dict.fromkeys(["first", *names], True), WRITERS + 1))

    def test_a_write_that_raises_reaches_only_its_own_thread_and_the_others_commit(self):
        before = self.transactions()
        go = self.first_holds_the_turn()
        failure = ValueError("w2's own failure")

        def fails():
            raise failure

        names = [f"w{n}" for n in range(WRITERS)]
        for name in names:
            self.writer(name, self.setter(name, fails if name == "w2" else None))
        self.arrive(WRITERS)
        go.set()
        self.join()
        self.assertEqual(self.answers.pop("w2"), ("error", failure))
        committed = ["first", *(name for name in names if name != "w2")]
        self.assertEqual(self.answers, {name: ("result", f"answer of {name}") for name in committed})
        # The group failed as a whole (nothing of it committed); each write was then tried alone.
        self.assertEqual(self.group_commit.groups, 0)
        self.assertEqual(self.transactions() - before, len(committed))
        self.assertEqual(self.written(), (dict.fromkeys(committed, True), len(committed)))

    def test_a_conflict_in_a_group_retries_the_group_and_commits_each_write_once(self):
        before = self.transactions()
        go = self.first_holds_the_turn()
        calls = []

        def conflicts_once():
            calls.append(True)
            if len(calls) == 1:
                raise ConflictError("a conflict of the group's first attempt")

        names = [f"w{n}" for n in range(WRITERS)]
        for name in names:
            self.writer(name, self.setter(name, conflicts_once if name == "w1" else None))
        self.arrive(WRITERS)
        go.set()
        self.join()
        self.assertEqual(self.answers, {name: ("result", f"answer of {name}") for name in ["first", *names]})
        self.assertEqual(len(calls), 2)  # the group's first attempt, then its retry: still a group
        self.assertEqual((self.group_commit.groups, self.group_commit.grouped), (1, WRITERS))
        self.assertEqual(self.transactions() - before, 2)
        self.assertEqual(self.written(), (dict.fromkeys(["first", *names], True), WRITERS + 1))

    def test_a_write_alone_commits_at_once(self):
        before = self.transactions()
        self.assertEqual(self.group_commit.write(self.db, self.setter("alone")), "answer of alone")
        self.assertEqual(self.transactions() - before, 1)
        self.assertEqual(self.written(), ({"alone": True}, 1))

    def test_a_write_inside_a_write_is_refused_not_left_waiting_for_itself(self):
        def nested(root):
            return self.group_commit.write(self.db, self.setter("inner"))

        self.writer("outer", nested)
        self.join()
        kind, error = self.answers["outer"]
        self.assertEqual(kind, "error")
        self.assertIsInstance(error, RuntimeError)
        self.assertEqual(self.written(), ({}, 0))


class TestTheClaimsHeartbeat(unittest.TestCase):
    """A claim writes this instance's heartbeat only when it is due (claims.py): not with every claim of a burst."""

    def test_due_when_never_written_older_than_an_interval_or_naming_other_queues(self):
        db = ZODB.DB(DemoStorage())
        self.addCleanup(db.close)
        with mock.patch.object(claims, "heartbeat_interval", return_value=10.0), db.transaction() as connection:
            root = connection.root()
            self.assertTrue(claims._beat_due(root, "worker-1", None))  # never written
            registry.beat_in(root, "worker-1", queues=None)
            self.assertFalse(claims._beat_due(root, "worker-1", None))  # fresh: the claim leaves it
            self.assertTrue(claims._beat_due(root, "worker-1", ("reports", "default")))  # it serves other queues now
            registry.beat_in(root, "worker-1", queues=("reports", "default"))
            self.assertFalse(claims._beat_due(root, "worker-1", ("default", "reports")))
            registry.instances(root)["worker-1"].beat -= 10.0
            self.assertTrue(claims._beat_due(root, "worker-1", ("default", "reports")))  # an interval old

    def test_a_claim_makes_the_maintenance_thread_beat_within_an_interval(self):
        thread = maintenance.Maintenance()  # not started: its claim step only
        thread.claimer = lambda db: 2
        thread._claim(db=None, mark=False)
        self.assertTrue(thread._claimed)
        thread.claimer = lambda db: 0
        thread._claimed = False
        thread._claim(db=None, mark=False)
        self.assertFalse(thread._claimed)  # nothing claimed: its heartbeat keeps its own time
