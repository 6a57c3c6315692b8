"""The worker's short transactions, one at a time and together: a real ZEO server, FileStorage and threads."""

from netsight.asynchronous import pool as pool_module
from netsight.asynchronous import transactions
from netsight.asynchronous.limits import JobLimits
from netsight.asynchronous.pool import Pool
from netsight.asynchronous.tests.helpers.base import hold_the_writer
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.transactions import in_own_transaction
from netsight.asynchronous.transactions import one_writer_for_this_thread
from persistent.mapping import PersistentMapping
from ZODB import DB
from ZODB.Connection import Connection
from ZODB.FileStorage import FileStorage
from zope.component.hooks import getSite
from zope.component.hooks import setSite
from zope.site.folder import rootFolder
from zope.site.site import LocalSiteManager

import os
import signal
import tempfile
import threading
import time
import transaction
import types
import unittest
import ZEO


DEADLINE = 30  # seconds: a thread that has not ended by then never will


class DatabaseTestCase(unittest.TestCase):
    """A ZEO server of a FileStorage in a temporary directory, and a client's
    database with a counter that every test's transactions write."""

    threaded = True  # the ZEO server in a thread of this process; False: in a process of its own

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.path = f"{directory.name}/Data.fs"
        self.start_the_server(port=0)
        self.addCleanup(self.stop_the_server)  # the one running at the end, if any
        self.db = ZEO.DB(self.address)
        self.addCleanup(self.db.close)
        in_own_transaction(self.db, lambda root: root.__setitem__("counter", PersistentMapping(n=0)))

    def start_the_server(self, port):
        self.address, self.stop = ZEO.server(path=self.path, port=port, threaded=self.threaded)

    def stop_the_server(self):
        stop, self.stop = self.stop, None
        if stop is not None:
            stop()

    def count(self):
        return in_own_transaction(self.db, lambda root: root["counter"]["n"])

    def thread(self, target, worker=True):
        """``target`` in a thread of its own: a worker's (as the pool's and the maintenance thread), or a request's."""

        def run():
            if worker:
                one_writer_for_this_thread()
            target()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, DEADLINE)
        return thread

    def in_worker(self, func, attempts=None):
        """What ``in_own_transaction(db, func)`` returned in a worker's thread."""
        results = []
        self.thread(lambda: results.append(in_own_transaction(self.db, func, attempts=attempts))).join(DEADLINE)
        return results[0]

    def opened(self, db=None):
        """The connections of ``db`` (this test's) that are open."""
        return [info for info in (db or self.db).connectionDebugInfo() if info["opened"]]


def increment(root):
    root["counter"]["n"] += 1
    return root["counter"]["n"]


class TestOneAtATime(DatabaseTestCase):

    def test_the_second_transaction_begins_after_the_first_committed_and_never_conflicts(self):
        first_inside, second_asked, second_inside = threading.Event(), threading.Event(), threading.Event()
        seen_by_second = []

        def first(root):
            first_inside.set()
            second_asked.wait(DEADLINE)
            # The second asks now: it must not get in before this one committed.
            overlapped = second_inside.wait(1)
            increment(root)
            return overlapped

        def second(root):
            second_inside.set()
            seen_by_second.append(root["counter"]["n"])
            return increment(root)

        results = {}
        one = self.thread(lambda: results.setdefault("first", in_own_transaction(self.db, first)))
        first_inside.wait(DEADLINE)

        def ask():
            second_asked.set()
            results["second"] = in_own_transaction(self.db, second)

        two = self.thread(ask)
        one.join(DEADLINE)
        two.join(DEADLINE)
        self.assertEqual(results, {"first": False, "second": 2})
        self.assertEqual(seen_by_second, [1])  # read once, what the first committed: no conflict, no retry
        self.assertEqual(self.count(), 2)

    def test_a_transaction_that_cannot_conflict_does_not_wait_for_the_writer(self):
        hold_the_writer(self, DEADLINE)
        done = []
        self.thread(lambda: done.append(in_own_transaction(self.db, lambda root: "added", alone=False))).join(DEADLINE)
        self.assertEqual(done, ["added"])

    def test_on_a_filestorage_too_the_workers_transactions_take_turns(self):
        let_go = hold_the_writer(self, DEADLINE)
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        db = DB(FileStorage(f"{directory.name}/Data.fs"))
        self.addCleanup(db.close)
        done = []
        thread = self.thread(lambda: done.append(in_own_transaction(db, lambda root: root.__setitem__("n", 1) or "written")))
        wait_until(lambda: transactions.waiting() == 1, DEADLINE)
        self.assertEqual(done, [])  # waits for its turn
        let_go()
        thread.join(DEADLINE)
        self.assertEqual(done, ["written"])
        self.assertEqual(in_own_transaction(db, lambda root: root["n"]), 1)

    def test_a_requests_transaction_does_not_wait_for_the_workers(self):
        hold_the_writer(self, DEADLINE)
        done = []
        self.thread(lambda: done.append(in_own_transaction(self.db, increment)), worker=False).join(DEADLINE)
        self.assertEqual(done, [1])

    def test_a_transaction_within_another_of_the_same_thread_goes_on(self):
        def outer(root):
            return in_own_transaction(self.db, increment)

        done = []
        self.thread(lambda: done.append(in_own_transaction(self.db, outer))).join(DEADLINE)
        self.assertEqual(done, [1])


class TestTogether(DatabaseTestCase):
    """The worker's short transactions that wait for their turn at the same moment commit together."""

    def run_waiting_together(self, funcs, sites=None):
        """Each of ``funcs`` in a worker's thread of its own (its site ``sites[name]``, if any), all waiting for
        WRITER at once: {name: result or error}."""
        let_go, outcomes, sites = hold_the_writer(self, DEADLINE), {}, sites or {}

        def run(name, func):
            setSite(sites.get(name))
            try:
                outcomes[name] = in_own_transaction(self.db, func)
            except BaseException as exc:  # an exit too: the test says whose it was
                outcomes[name] = exc

        threads = [self.thread(lambda n=name, f=func: run(n, f)) for name, func in funcs.items()]
        wait_until(lambda: transactions.waiting() == len(funcs), what="every transaction waiting for its turn")
        let_go()
        for thread in threads:
            thread.join(DEADLINE)
        return outcomes

    def serials(self, names):
        return in_own_transaction(self.db, lambda root: {root[name]._p_serial for name in names})

    def test_three_commit_in_one_transaction_and_each_gets_what_it_returned(self):
        def add(name):
            return lambda root: root.__setitem__(name, PersistentMapping(n=increment(root))) or (name, root[name]["n"])

        names = ["a", "b", "c"]
        outcomes = self.run_waiting_together({name: add(name) for name in names})
        self.assertEqual({name: outcome[0] for name, outcome in outcomes.items()}, {"a": "a", "b": "b", "c": "c"})
        self.assertEqual(sorted(outcome[1] for outcome in outcomes.values()), [1, 2, 3])
        self.assertEqual(self.count(), 3)
        self.assertEqual(len(self.serials(names)), 1)  # one transaction wrote them all

    def test_one_that_fails_fails_alone_and_the_others_commit(self):
        runs = []

        def fails(root):
            runs.append(increment(root))
            raise ValueError("this one's own error")

        outcomes = self.run_waiting_together({"a": increment, "fails": fails, "c": increment})
        self.assertIsInstance(outcomes.pop("fails"), ValueError)
        self.assertEqual(sorted(outcomes.values()), [1, 2])  # each committed alone: the failed one wrote nothing
        self.assertEqual(self.count(), 2)
        self.assertEqual(len(runs), 2)  # in the group, then alone
        self.assertEqual(transactions.waiting(), 0)

    def test_one_that_exits_exits_in_its_own_thread_and_the_others_commit(self):
        def exits(root):
            increment(root)
            raise SystemExit("this one's own exit")

        outcomes = self.run_waiting_together({"a": increment, "exits": exits, "c": increment})
        self.assertIsInstance(outcomes.pop("exits"), SystemExit)
        self.assertEqual(sorted(outcomes.values()), [1, 2])
        self.assertEqual(self.count(), 2)
        self.assertEqual(transactions.waiting(), 0)

    def test_each_runs_with_its_own_threads_site(self):
        sites = {name: rootFolder() for name in ("a", "b", "c")}
        for site in sites.values():
            site.setSiteManager(LocalSiteManager(site))

        def add(name):
            def func(root):
                root[name] = PersistentMapping()
                return getSite() is sites[name]

            return func

        outcomes = self.run_waiting_together({name: add(name) for name in sites}, sites)
        self.assertEqual(outcomes, {"a": True, "b": True, "c": True})
        self.assertEqual(len(self.serials(sites)), 1)  # one thread ran them all, in one transaction

    def test_one_that_fails_alone_runs_once(self):
        runs = []

        def fails(root):
            runs.append(1)
            raise ValueError("its own error")

        self.assertIsInstance(self.run_waiting_together({"fails": fails})["fails"], ValueError)
        self.assertEqual(runs, [1])


class FailingThread(threading.Thread):
    """A thread that cannot be started, as when the process has no more."""

    def start(self):
        raise RuntimeError("can't start new thread")


class UnstartableJob:
    """A job whose failure is written in a short transaction, as ``worker.Job.discard``."""

    def __init__(self, db, about_to_write):
        self.process_id, self.db, self.about_to_write = "unstartable", db, about_to_write
        self.limits = JobLimits("someone", "/plone")

    def run(self):
        raise AssertionError("never run: its thread could not be started")

    def discard(self, error=None):
        self.about_to_write.set()
        in_own_transaction(self.db, lambda root: root["counter"].__setitem__("failure", error))


class TestPoolWritesWithoutItsLock(DatabaseTestCase):

    def test_a_job_whose_thread_cannot_start_fails_while_a_claim_holding_the_writer_asks_the_pool(self):
        setting(self, "pool-size", 2)
        fake = types.SimpleNamespace(Thread=FailingThread, Lock=threading.Lock, local=threading.local, current_thread=threading.current_thread)
        original = pool_module.threading
        pool_module.threading = fake
        self.addCleanup(setattr, pool_module, "threading", original)
        pool = Pool()
        holding, about_to_write, claimed = threading.Event(), threading.Event(), []

        def claim(root):  # as claims.claim_queued's: in its transaction, it asks the pool for room
            holding.set()
            about_to_write.wait(DEADLINE)
            claimed.append(pool.room())
            return increment(root)

        claiming = self.thread(lambda: in_own_transaction(self.db, claim))
        holding.wait(DEADLINE)
        submitting = self.thread(lambda: pool.submit(UnstartableJob(self.db, about_to_write)))
        submitting.join(DEADLINE)
        claiming.join(DEADLINE)
        self.assertFalse(submitting.is_alive() or claiming.is_alive(), "the claim and the failing start wait for each other")
        self.assertEqual(claimed, [2])
        self.assertEqual(
            in_own_transaction(self.db, lambda root: dict(root["counter"])), {"n": 1, "failure": "the worker could not be started"}
        )
        self.assertEqual(pool.counts(), (0, 0, 0))


class TestTheTurnsConnection(DatabaseTestCase):
    """The worker's short transactions, one at a time, share one connection kept
    open: what the last wrote is current there, and what others commit is seen."""

    def test_one_after_another_on_one_connection_that_sees_what_others_committed(self):
        first = self.in_worker(lambda root: (increment(root), id(root._p_jar)))
        self.assertEqual(first[0], 1)
        self.thread(lambda: in_own_transaction(self.db, increment), worker=False).join(DEADLINE)  # a request's
        # One attempt: a connection that had not caught up would conflict, not retry.
        second = self.in_worker(lambda root: (increment(root), id(root._p_jar)), attempts=1)
        self.assertEqual(second, (3, first[1]))
        self.assertEqual(len(self.opened()), 1)  # kept open between them
        self.assertEqual(self.count(), 3)

    def test_one_within_another_has_a_connection_of_its_own(self):
        def outer(root):
            inner = in_own_transaction(self.db, lambda inner_root: (increment(inner_root), id(inner_root._p_jar)))
            root["outer"] = True
            return inner[1] != id(root._p_jar)

        self.assertTrue(self.in_worker(outer))
        self.assertEqual(self.count(), 1)
        self.assertTrue(in_own_transaction(self.db, lambda root: root["outer"]))

    def test_a_database_let_go_has_it_closed_and_one_closes_with_it_open(self):
        self.in_worker(increment)
        self.assertEqual(len(self.opened()), 1)
        transactions.let_go(self.db)  # a database about to be closed (MAINTENANCE.release)
        self.assertEqual(self.opened(), [])
        self.assertEqual(self.in_worker(increment), 2)  # the next turn opens another
        other = DB(None)  # a database closed with it open, as an instance's that stops: no error
        self.thread(lambda: in_own_transaction(other, lambda root: root.__setitem__("n", 1))).join(DEADLINE)
        self.assertEqual(len(self.opened(other)), 1)
        other.close()


class TestTheTurnsConnectionAcrossARestartOfTheServer(DatabaseTestCase):
    """The connection kept open for the turn lives as long as the instance:
    after its ZEO server restarted, it writes again, and sees what others wrote."""

    threaded = False  # as runzeo: the server's end closes the clients' sockets (a thread's may not)

    def test_it_writes_after_the_restart_and_sees_what_a_request_wrote(self):
        before = self.in_worker(lambda root: (increment(root), id(root._p_jar)))
        self.assertEqual(before[0], 1)
        self.assertEqual(len(self.opened()), 1)  # the kept one
        self.stop_the_server()
        wait_until(lambda: not self.db.storage.is_connected(), DEADLINE, "the client to see its server gone")
        self.start_the_server(port=self.address)
        wait_until(self.db.storage.is_connected, DEADLINE, "the client to connect again")
        self.assertEqual(len(self.opened()), 1)  # still open: not dropped with the server
        after = self.in_worker(lambda root: (increment(root), id(root._p_jar)))
        self.assertEqual(after, (2, before[1]))  # the same connection, its write committed
        self.assertEqual(len(self.opened()), 1)
        self.thread(lambda: in_own_transaction(self.db, increment), worker=False).join(DEADLINE)  # a request's
        self.assertEqual(self.in_worker(increment, attempts=1), 4)  # one attempt: it had caught up
        other = ZEO.DB(self.address)  # another instance reads what it wrote
        self.addCleanup(other.close)
        self.assertEqual(in_own_transaction(other, lambda root: root["counter"]["n"]), 4)


class CountingConnection(Connection):
    """ZODB's Connection, counting how often it catches up with its storage
    (``newTransaction``: on RelStorage, each is a query to PostgreSQL)."""

    catch_ups = 0

    def newTransaction(self, transaction, sync=True):
        type(self).catch_ups += 1
        super().newTransaction(transaction, sync)


class TestCatchingUp(unittest.TestCase):
    """A short transaction catches up with its storage once, at its begin, and
    sees what another connection committed just before."""

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.db = DB(FileStorage(f"{directory.name}/Data.fs"))
        self.addCleanup(self.db.close)
        self.db.klass = CountingConnection
        in_own_transaction(self.db, lambda root: root.__setitem__("n", 1))

    def test_once_a_transaction_and_up_to_date(self):
        other = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=other)
        self.addCleanup(connection.close)
        with other:
            connection.root()["n"] = 2
        CountingConnection.catch_ups = 0
        self.assertEqual(in_own_transaction(self.db, lambda root: root["n"]), 2)
        self.assertEqual(CountingConnection.catch_ups, 1)

    def test_a_connection_it_used_is_up_to_date_when_the_pool_gives_it_again(self):
        # Its connection goes back to the pool without catching up after its commit; whoever
        # gets it next catches up: a request (implicit) as it opens, a short transaction at begin.
        writer_manager = transaction.TransactionManager()
        writer = self.db.open(transaction_manager=writer_manager)  # another connection than the next one's
        self.addCleanup(writer.close)
        used = in_own_transaction(self.db, lambda root: (root["n"], id(root._p_jar)))
        self.assertEqual(used[0], 1)
        with writer_manager:
            writer.root()["n"] = 5  # what the pooled connection read is stale now
        request_manager = transaction.TransactionManager()
        again = self.db.open(transaction_manager=request_manager)
        try:
            self.assertEqual(id(again), used[1])  # the same connection, from the pool
            self.assertEqual(again.root()["n"], 5)  # no begin(): as it opened
            again.root()["n"] = 6
            request_manager.commit()  # no conflict: it wrote on the last committed state
        finally:
            again.close()
        self.assertEqual(in_own_transaction(self.db, lambda root: (root["n"], id(root._p_jar))), (6, used[1]))


@unittest.skipUnless(hasattr(os, "fork"), "os.fork()")
class TestAForkedChild(unittest.TestCase):
    """A job's code may fork (``os.fork()``) while another thread holds the
    instance's turn to write, or waits for it: the child, which has only the
    thread that forked, still writes, and runs none of the parent's waiting transactions."""

    CHILD_DEADLINE = 10  # seconds: a child whose write has not ended by then never will

    def fork(self, child):
        """``child()`` in a forked child: its exit code (0: it returned true)."""
        pid = os.fork()
        if pid == 0:  # the child: never returns to the test runner
            code = 1
            try:
                code = 0 if child() else 2
            finally:
                os._exit(code)
        return self.exit_code(pid)

    def exit_code(self, pid):
        """The exit code of the child ``pid``, killed if it has not ended by its deadline and a margin."""
        deadline = time.monotonic() + self.CHILD_DEADLINE + 5
        while (ended := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                ended = os.waitpid(pid, 0)
                break
            time.sleep(0.01)
        return os.waitstatus_to_exitcode(ended[1])

    def write(self, db):
        """A worker's short transaction in the child's only thread, the one
        that forked; one still waiting at the deadline ends the child (SIGALRM): True."""
        signal.alarm(self.CHILD_DEADLINE)
        one_writer_for_this_thread()
        in_own_transaction(db, lambda root: root.__setitem__("child", True))
        return True

    def test_while_another_thread_holds_the_turn(self):
        db = DB(None)
        self.addCleanup(db.close)
        hold_the_writer(self)
        self.assertEqual(self.fork(lambda: self.write(db)), 0)

    def test_while_another_thread_waits_for_its_turn(self):
        db = DB(None)
        self.addCleanup(db.close)
        let_go = hold_the_writer(self)
        parents = []
        waiter = threading.Thread(
            target=lambda: in_own_transaction(db, lambda root: parents.append(os.getpid()), alone=True), daemon=True
        )
        waiter.start()
        self.addCleanup(waiter.join, DEADLINE)
        wait_until(lambda: transactions.waiting() == 1, what="a short transaction waiting for its turn")

        def child():
            return self.write(db) and parents == []  # the parent's waiting one did not run here

        self.assertEqual(self.fork(child), 0)
        let_go()
        waiter.join(DEADLINE)
        self.assertEqual(parents, [os.getpid()])  # and it ran in the parent, once

    def test_the_parents_kept_connection_is_not_the_childs(self):
        db = DB(None)
        self.addCleanup(db.close)
        parent = []
        worker = threading.Thread(target=lambda: (one_writer_for_this_thread(), in_own_transaction(
            db, lambda root: parent.append(id(root._p_jar)))), daemon=True)
        worker.start()
        worker.join(DEADLINE)
        self.assertEqual(len(parent), 1)  # the parent's turn keeps a connection open

        def child():
            jars = []
            written = self.write(db) and in_own_transaction(db, lambda root: jars.append(id(root._p_jar)) or True)
            kept = getattr(db, transactions.KEPT_ATTRIBUTE)
            transactions.let_go(db)  # lets go of the child's own; the parent's is not touched
            return written and jars != parent and kept.pid == os.getpid()

        self.assertEqual(self.fork(child), 0)
        self.assertEqual(in_own_transaction(db, lambda root: root.get("child")), None)  # the child's own database copy

    def test_while_the_forking_thread_holds_its_turn(self):
        """The child goes on after the turn it forked in: the turn is free for its other threads."""
        db = DB(None)
        self.addCleanup(db.close)
        pid = None
        try:
            with transactions._writer_turn():
                pid = os.fork()
        finally:
            if pid == 0:  # the child, out of the block: never returns to the test runner
                os._exit(self.in_another_thread(lambda: self.write(db)))
        self.assertEqual(self.exit_code(pid), 0)

    def in_another_thread(self, func):
        """0 if ``func()`` returned true in a new thread of the child within its deadline, else 2."""
        signal.alarm(self.CHILD_DEADLINE)
        results = []
        thread = threading.Thread(target=lambda: results.append(func()), daemon=True)
        thread.start()
        thread.join(self.CHILD_DEADLINE)
        return 0 if results == [True] else 2


def test_suite():
    return unittest.defaultTestLoader.loadTestsFromName(__name__)
