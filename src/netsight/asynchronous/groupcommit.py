"""One writer at a time for a worker's registry writes: those that wait together commit in one transaction.

The ends of jobs (with the start of the job that each thread runs next),
the starts written alone and the claims of jobs queued elsewhere all
write the registry's shared index buckets (the active index, the states
index and its counts, the index of end times). Two such transactions of
one instance that overlap conflict on those buckets: the storage resolves
the conflict, and a ZEO client then drops the resolved objects from its
cache, so that the next transaction loads each of them again from the
server. A ZEO client also commits one transaction at a time (its commit
lock): the threads queue there anyway. Here they are written one at a
time, each beginning after the one before committed (it reads what that
one wrote, and conflicts with nobody of its own instance); and the writes
that wait meanwhile are committed together, by the thread that gets the
turn, in one transaction (group commit): one commit for several ends.

``write`` returns only once its own write committed (a job's end is
committed before its page can show the result, its next job's start before
that job's ``__run__`` runs), and raises what its own write raised, in its
own thread. A group's transaction is retried on ConflictError as any short
transaction is (``transactions.in_own_transaction``: every write of the
group is called again, on the state the retry reads); if it fails all the
same (an error in one write, conflicts past the retries), each of its
writes is tried again alone, in a transaction of its own: a failure of one
never loses the others, and none is committed twice (a group that failed
committed nothing).

A write must be a function of the root that may be called more than once
(as for ``in_own_transaction``); it must not wait for a lock that a
thread may hold while it calls ``write`` (``Job.discard``, called with
the pool's lock held, writes alone for that reason), and must not call
``write`` itself (refused: it would wait for its own turn).
"""

from netsight.asynchronous.transactions import in_own_transaction

import logging
import threading


logger = logging.getLogger("netsight.async")


class _Write:
    """A write waiting for its turn: ``func(root)`` in ``db``, then what it returned or raised."""

    __slots__ = ("db", "func", "done", "result", "error")

    def __init__(self, db, func):
        self.db, self.func = db, func
        self.done, self.result, self.error = False, None, None


class GroupCommit:
    """The writer of this instance's registry writes: one transaction at a time."""

    def __init__(self):
        self._turn = threading.Lock()  # held by the thread that commits a group
        self._lock = threading.Lock()  # for ``_waiting``
        self._waiting = []  # the writes not yet taken into a group, in arrival order
        self._local = threading.local()  # ``committing``: this thread holds the turn (a write inside a write)
        # For tests and benchmarks (read without a lock): the transactions that
        # committed, the writes they held, and those of more than one write.
        self.transactions = 0
        self.writes = 0
        self.groups = 0
        self.grouped = 0

    def write(self, db, func):
        """``func(root)`` committed in a transaction of ``db`` (a ``ZODB.DB``),
        alone or with the writes that wait at the same time; what it
        returned, once committed. What it raised is raised here."""
        if getattr(self._local, "committing", False):
            raise RuntimeError("netsight.async: a group commit's write cannot write through it again")
        mine = _Write(db, func)
        with self._lock:
            self._waiting.append(mine)
        with self._turn:
            if not mine.done:  # else the thread that had the turn committed it with its own
                with self._lock:
                    group = [write for write in self._waiting if write.db is db]
                    self._waiting = [write for write in self._waiting if write.db is not db]
                self._local.committing = True
                try:
                    self._commit(db, group)
                finally:
                    self._local.committing = False
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _commit(self, db, group):
        """Commit ``group`` (the turn is held): together, else each alone; every write ends done."""
        try:
            if len(group) > 1 and self._together(db, group):
                return
            for write in group:
                try:
                    write.result = in_own_transaction(db, write.func)
                except BaseException as exc:  # raised in the thread whose write it is
                    write.error = exc
                else:
                    self.transactions += 1
                    self.writes += 1
                write.done = True
        finally:
            for write in group:  # never a write left waiting for a turn that will not take it again
                if not write.done:
                    write.error = RuntimeError("netsight.async: its group commit was interrupted")
                    write.done = True

    def _together(self, db, group):
        """Commit ``group`` in one transaction; whether it committed (if not, nothing of it did)."""
        try:
            results = in_own_transaction(db, lambda root: [write.func(root) for write in group])
        except BaseException:
            logger.debug("netsight.async: a group of %d writes failed; each is tried alone", len(group), exc_info=True)
            return False
        self.transactions += 1
        self.writes += len(group)
        self.groups += 1
        self.grouped += len(group)
        for write, result in zip(group, results):
            write.result, write.done = result, True
        return True


GROUP_COMMIT = GroupCommit()
