"""Short transactions of their own, retried on ConflictError.

A write that must not wait for the caller's transaction, nor be undone
with it (a job's state and progress, a heartbeat, the fetch of a result, a
captured blob), runs here: on a connection of its own (the turn's kept
connection, below, for the worker's), with a transaction manager of its
own, so that it never commits the half-done work of a job or of a request. The registry's ``change`` and ``take`` use it; so do
``capture.py`` (a big body's blob) and the maintenance thread.

The worker's short transactions (those of the pool's threads and of the
maintenance thread, which call ``one_writer_for_this_thread``) run one at
a time (``WRITER``), and with them two of a request's, ``alone=True``:
the transaction that adds a start's record (``startcommit.py``: two starts
of an instance then never conflict on the last buckets of the registry's
trees) and a fetch's take of a result (``registry.take``: it empties the
buckets that the starts and ends fill; 252 conflicts in 1,000 fetches
end to end, some retried ten times). Two that write the same objects at
once (the registry's index buckets, its counters: a job's end beside
another's, beside a claim) conflict. On a ZEO client the server resolves
the conflict and the client must then load every resolved object again
(a worker fed by a front-end spent 39 % of its job ends on such loads:
docs/performance.rst, "One writer at a time"); on every storage, a conflict that cannot be resolved is retried
after a pause (RelStorage's job threads spent 28 % of a drain in those
pauses). A request's other short transactions (a cancel, a removal) do
not wait for them.

Those that wait for ``WRITER`` at the same moment (two job threads'
ends, a claim, a burst of starts' records) are committed together, in
one transaction (``_together``): a commit's round trips (the ZEO
server's, PostgreSQL's) and its conflict checks were the worker's job
ends' largest cost. A group that fails is run again one by one, each
with its own retries.

The transactions of the turn, one after the other, use one connection kept
open (``_KeptConnection``): what the last one wrote is current in its
cache, where a connection from the pool would load again every bucket and
counter that another connection had changed since it last used it (a
worker fed by a front-end spent a third of its writes' turn on such loads:
docs/performance.rst, "Claims that keep the queue filled"). ``let_go`` closes it.
"""

from transaction.interfaces import NoTransaction
from transaction.interfaces import TransientError
from zope.component.hooks import getSite
from zope.component.hooks import site as current_site

import contextlib
import logging
import os
import random
import threading
import time
import transaction


logger = logging.getLogger("netsight.async")

ATTEMPTS = 50  # of a short transaction that meets ConflictErrors (about 40 s at most)
BACKOFF = 0.005  # seconds: the first retry's longest wait; doubled at each, up to 1 s
# Held by a worker thread's short transaction (and a request's that passes alone=True: a
# start's record, startcommit.py; a fetch's take, registry.take) from its connection's
# opening to its commit; re-entrant (a short transaction within another, as a claim's
# record that fails). Code that holds another lock never waits for it (the pool's).
WRITER = threading.RLock()
_thread = threading.local()
GROUP = 50  # short transactions at most in one commit (``_together``)
_waiting = []  # the ``_Waiting`` of this process, in arrival order
_waiting_lock = threading.Lock()


def _after_fork_in_child():
    """A child of ``os.fork()`` (a job's code may fork) has only the thread
    that forked: a turn that another thread of the parent held would never
    be let go there, and a short transaction waiting in the parent would be
    run again by the child's first group. The child starts with a free
    turn (held as often as the forking thread itself held it, and let go as
    its ``_writer_turn`` blocks end) and no one waiting. This only keeps the
    child from waiting for ever: a child that writes must open a database
    of its own (the parent's storage connections, a ZEO client's socket or
    RelStorage's, are not the child's to use)."""
    global WRITER, _waiting_lock
    WRITER = threading.RLock()
    for _turn in range(getattr(_thread, "turns", 0)):
        WRITER.acquire()
    _waiting_lock = threading.Lock()
    _waiting.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def one_writer_for_this_thread():
    """From now on, this thread's short transactions wait for ``WRITER``: a
    worker's thread (the pool's, the maintenance thread) calls it as it starts."""
    _thread.alone = True


def in_own_transaction(db, func, attempts=None, alone=None):
    """``func(root)`` in a short transaction on a connection of its own to ``db``.

    :param db: the database (a ``ZODB.DB``), not a connection: the
        connection is opened here (the turn's is kept: ``_KeptConnection``) and let go before any pause.
    :param func: called with the connection's root; what it returns is returned.
    :param attempts: how many times in all (``ATTEMPTS`` by default).
    :param alone: one at a time with the worker's other short transactions
        (``WRITER``); None, the default, for a worker's thread
        (``one_writer_for_this_thread``) only; False for
        one that cannot conflict and may take long (a big blob's).
    :returns: what ``func`` returned in the attempt that committed.

    One that waits for ``WRITER`` (with the default ``attempts``) is
    committed with the others waiting at the same moment, in one
    transaction (``_together``); if that transaction fails, each is run
    again on its own, as below.

    Retried, with a growing random pause (as Zope's ``delay_retry``), on a
    ConflictError or another transient error (a ZEO server out of reach
    for a moment); the last attempt's error is raised. Any other exception
    aborts and is raised at once.
    """
    if alone is None:
        alone = getattr(_thread, "alone", False)
    if alone and attempts is None and not getattr(_thread, "turns", 0):
        waiting = _together(db, func)
        if waiting.committed:
            return waiting.result
    attempts = attempts or ATTEMPTS
    turn = _writer_turn if alone else contextlib.nullcontext
    for attempt in range(1, attempts + 1):
        try:
            with turn():
                return attempt_once(db, func)
        except TransientError:
            if attempt == attempts:
                raise
            logger.debug("Conflict in a short transaction of netsight.async, retrying")
        time.sleep(random.uniform(0, min(1.0, BACKOFF * 2**attempt)))  # holding no connection, nor WRITER


def holds_turn():
    """Whether this thread holds ``WRITER`` now (a thread that waits for a write of another would wait for ever)."""
    return bool(getattr(_thread, "turns", 0))


@contextlib.contextmanager
def _writer_turn():
    """Hold ``WRITER``; this thread's short transactions within run at once, not with others (``_together``)."""
    WRITER.acquire()
    _thread.turns = getattr(_thread, "turns", 0) + 1
    try:
        yield
    finally:
        _thread.turns -= 1
        WRITER.release()  # read again: in a child forked meanwhile, the child's own (``_after_fork_in_child``)


class _Waiting:
    """A short transaction that waits for ``WRITER``; once a group ran it, whether it committed and what it returned."""

    __slots__ = ("db", "func", "site", "committed", "result")

    def __init__(self, db, func):
        self.db = db
        self.func = func
        self.site = getSite()  # its thread's: a group runs it in another thread
        self.committed = False  # set and read holding ``WRITER``
        self.result = None

    def run(self, root):
        """``func(root)``, with its own thread's site as the current one."""
        if self.site is getSite():
            return self.func(root)
        with current_site(self.site):
            return self.func(root)


def _together(db, func):
    """``func(root)`` committed to ``db`` with the other short transactions that
    wait for ``WRITER`` meanwhile, in one transaction (its ``_Waiting``).

    Whichever gets its turn first runs every one waiting then (up to
    ``GROUP``, of the same database), its own first and the others in
    arrival order, in one attempt, and tells each what it returned; one
    that another's group ran finds it done when its own turn comes. Each
    runs with its own thread's site (``getSite``); a function must not
    depend on its thread otherwise. If the group's transaction fails (a conflict, one's error), none is
    committed, and each is run again on its own (``in_own_transaction``'s
    retries): one's error, or a conflict with another instance, is never
    another's. A function may so run more than once, as on a retry: what
    it does besides the database (a log line) may be done twice.
    """
    waiting = _Waiting(db, func)
    with _waiting_lock:
        _waiting.append(waiting)
    try:
        with _writer_turn():
            with _waiting_lock:
                group = [] if waiting not in _waiting else [waiting, *(o for o in _waiting if o.db is db and o is not waiting)][:GROUP]
                for other in group:
                    _waiting.remove(other)
            if group:
                _run_group(db, group, waiting)
    finally:  # an interrupt while it waited: no group runs it after its caller has gone
        with _waiting_lock:
            if waiting in _waiting:
                _waiting.remove(waiting)
    return waiting


def _run_group(db, group, waiting):
    """Run ``group``'s functions in one transaction and settle each; ``waiting``'s own error, alone, is raised."""
    results = None
    try:
        results = attempt_once(db, lambda root: [other.run(root) for other in group])
    except BaseException as exc:  # each runs again on its own: its own error (an exit too) is raised to its own caller
        if group == [waiting] and not isinstance(exc, TransientError):
            raise  # its own error, at once
        logger.debug("netsight.async: a group of %d short transactions failed; each runs again alone", len(group))
    finally:  # each is told: those not committed run again on their own
        for index, other in enumerate(group):
            other.committed = results is not None
            other.result = None if results is None else results[index]


def waiting():
    """How many short transactions wait for ``WRITER`` to be run together now (tests wait for a count)."""
    with _waiting_lock:
        return len(_waiting)


def attempt_once(db, func):
    """``func(root)`` on a connection with a transaction manager of its own, committed; aborted if it raises.

    One attempt, not retried, holding no lock: the caller decides (``in_own_transaction`` retries it;
    ``_together`` runs a group's functions in one, and each again on its own if it fails). A
    thread that holds ``WRITER`` uses the connection kept for the turn (``_kept``), others a new one.
    """
    kept = _kept(db)
    if kept is not None:
        return kept.attempt(func)
    # Explicit (ZODB's explicit transactions): the connection catches up with its storage
    # once, at begin(), not also as it opens and after the commit; on RelStorage each is a
    # query to PostgreSQL (a drain 1.14 times as fast: docs/performance.rst).
    manager = transaction.TransactionManager(explicit=True)
    connection = db.open(transaction_manager=manager)
    try:
        return _begin_and_commit(manager, connection, func, manager.abort)
    finally:
        connection.close()


def _begin_and_commit(manager, connection, func, abort):
    """Begin, ``func(root)``, commit; ``abort()`` if any of it raises (then raised)."""
    try:
        manager.begin()
        result = func(connection.root())
        manager.commit()
        return result
    except BaseException:
        abort()
        raise


KEPT_ATTRIBUTE = "_netsight_async_turn_connection"  # on a ZODB.DB: its ``_KeptConnection``


class _KeptConnection:
    """The connection that the short transactions of ``WRITER``'s turn use, one after
    the other, kept open between them: what the last one wrote is current in
    its cache, where a connection of the pool would load again every object
    that another connection changed since it was last used (the registry's
    buckets and counters, which every end and claim writes)."""

    def __init__(self, db):
        self.manager = _TurnManager(explicit=True)
        self.connection = db.open(transaction_manager=self.manager)
        self.busy = False  # a short transaction within another (re-entrant turn) opens a connection of its own
        self.pid = os.getpid()  # a forked child's is its parent's: not used there

    def attempt(self, func):
        self.busy = True
        try:
            return _begin_and_commit(self.manager, self.connection, func, self._abort)
        finally:
            self.busy = False

    def _abort(self):
        try:
            self.manager.abort()
        except Exception:  # a connection that cannot even abort is not kept
            logger.debug("netsight.async: the turn's connection could not abort; a new one next time", exc_info=True)
            self.forget()

    def forget(self):
        """Keep it no more; close it, unless it is a forked parent's (its storage's sockets are the parent's)."""
        db = self.connection.db()
        if getattr(db, KEPT_ATTRIBUTE, None) is self:
            delattr(db, KEPT_ATTRIBUTE)
        if self.pid != os.getpid():
            return
        try:
            self.connection.close()
        except Exception:
            logger.warning("netsight.async: the turn's connection could not be closed", exc_info=True)


def let_go(db):
    """Close the connection kept for ``WRITER``'s turn on ``db``, if any (a database
    about to be closed: ``MAINTENANCE.release``); the next turn opens another."""
    with _writer_turn():
        kept = getattr(db, KEPT_ATTRIBUTE, None)
        if kept is not None and (kept.pid != os.getpid() or not kept.busy):  # a forked parent's: let go, not closed
            kept.forget()


class _TurnManager(transaction.TransactionManager):
    """The kept connection's transaction manager: explicit, and an abort without a
    transaction does nothing (``DB.close`` aborts every open connection's)."""

    def abort(self):
        try:
            txn = self.get()
        except NoTransaction:
            return None
        return txn.abort()


def _kept(db):
    """The connection kept for ``WRITER``'s turn on ``db``, if this thread holds the turn and it is free; else None."""
    if not getattr(_thread, "turns", 0):
        return None
    kept = getattr(db, KEPT_ATTRIBUTE, None)
    if kept is not None and kept.pid != os.getpid():
        kept = None  # the parent's, in a forked child: left alone
    if kept is None:
        kept = _KeptConnection(db)
        setattr(db, KEPT_ATTRIBUTE, kept)
    return None if kept.busy else kept
