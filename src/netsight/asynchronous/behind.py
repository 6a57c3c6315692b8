"""Job ends written behind: one writer thread commits them, grouped, while the job threads run on.

A pool thread that ends a job while a job already started (its *running*
committed, or being committed, with an end before) waits for a thread
need not wait for this end's commit: it hands the write here
(``WRITER.hand_over``) and runs that job (``worker._write_end``). The
writer thread commits every write that waits, together, in one short
transaction (``transactions.in_own_transaction``: retried on a conflict;
a group that fails otherwise is run again one by one, and a write that
fails alone calls its ``on_failure``), and settles each (``Write.wait``,
``Write.when_settled``). In a burst each commit so carries the ends of
the jobs that ended during the one before, instead of one end each
(docs/performance.rst, "Ends written behind").

The writer thread (``netsight.async writer``) starts with the first write
and ends after ``IDLE`` seconds without one; ``flush`` waits until no
write waits (an instance that stops, ``signals.py``). A child of
``os.fork()`` starts with no write and no writer thread.
"""

from collections import deque

from netsight.asynchronous.transactions import GROUP
from netsight.asynchronous.transactions import in_own_transaction
from netsight.asynchronous.transactions import one_writer_for_this_thread

import logging
import os
import threading


logger = logging.getLogger("netsight.async")

THREAD_NAME = "netsight.async writer"  # not a pool thread's prefix (pool.THREAD_PREFIX)
IDLE = 1.0  # seconds without a write before the writer thread ends (the next write starts it again)


class Write:
    """``func(root)``, to be committed in ``db``: by the writer thread (``Writer.hand_over``)
    or by its caller, who then settles it; ``wait`` returns what ``func`` returned."""

    __slots__ = ("db", "func", "on_failure", "_done", "_lock", "_settled", "result", "error")

    def __init__(self, db, func, on_failure=None):
        self.db = db
        self.func = func
        self.on_failure = on_failure  # called with the error by the writer, if the write failed alone
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._settled = []  # called once it is settled (``when_settled``)
        self.result = None
        self.error = None  # the exception that kept it from being committed

    def settle(self, result=None, error=None):
        """It was committed (``result``) or not (``error``): tell those who wait."""
        with self._lock:
            if self._done.is_set():
                return
            self.result, self.error = result, error
            self._done.set()
            settled, self._settled = self._settled, []
        for func in settled:
            _call(func)

    def when_settled(self, func):
        """Call ``func()`` once it is settled (at once if it is)."""
        with self._lock:
            if not self._done.is_set():
                self._settled.append(func)
                return
        _call(func)

    def wait(self, timeout=None):
        """What ``func`` returned, once committed; raises its error if it could not be."""
        if not self._done.wait(timeout):
            raise TimeoutError("the write is not committed yet")
        if self.error is not None:
            raise self.error
        return self.result


def _call(func):
    try:
        func()
    except Exception:
        logger.exception("netsight.async: a write's follow-up failed")


class Writer:
    """The writes waiting to be committed, and the thread that commits them."""

    def __init__(self):
        self._reset()

    def _reset(self):
        self._lock = threading.Condition(threading.Lock())
        self._queue = deque()
        self._thread = None
        self._busy = False
        self._flushing = 0

    def submit(self, db, func):
        """Hand ``func(root)`` over, to be committed in ``db`` soon; returns its ``Write``."""
        return self.hand_over(Write(db, func))

    def hand_over(self, write):
        """Hand ``write`` (a ``Write``) over, to be committed soon; returns it."""
        with self._lock:
            self._queue.append(write)
            if self._thread is None:
                thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                try:
                    thread.start()
                except Exception:
                    self._queue.remove(write)  # the caller writes it (worker._write_end)
                    raise
                self._thread = thread
            self._lock.notify_all()
        return write

    def flush(self, timeout=None):
        """Wait until no write waits, nor is being committed; False if ``timeout`` passed first."""
        with self._lock:
            self._flushing += 1
            try:
                return self._lock.wait_for(lambda: not self._queue and not self._busy, timeout)
            finally:
                self._flushing -= 1

    def pending(self):
        """How many writes wait or are being committed (tests)."""
        with self._lock:
            return len(self._queue) + self._busy

    def flushing(self):
        """How many threads wait in ``flush`` now (tests)."""
        with self._lock:
            return self._flushing

    def _run(self):
        one_writer_for_this_thread()
        while True:
            with self._lock:
                if not self._lock.wait_for(lambda: self._queue, IDLE):
                    self._thread = None
                    self._lock.notify_all()
                    return
                db = self._queue[0].db
                group = [write for write in self._queue if write.db is db][:GROUP]
                for write in group:
                    self._queue.remove(write)
                self._busy = True
            try:
                _commit(db, group)
            except BaseException as exc:  # never leave a write unsettled: its job threads wait for it
                logger.exception("netsight.async: the writer of the jobs' ends failed")
                for write in group:
                    write.settle(error=exc)
                if not isinstance(exc, Exception):  # the thread ends: nothing waits for it
                    with self._lock:
                        left, self._queue = list(self._queue), deque()
                        self._thread, self._busy = None, False
                        self._lock.notify_all()
                    for write in left:
                        write.settle(error=exc)
                    raise
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()


def _commit(db, group):
    """Commit ``group``'s writes in one short transaction; if it fails, each on its own."""
    if len(group) > 1:
        try:
            results = in_own_transaction(db, lambda root: [write.func(root) for write in group])
        except Exception:
            logger.debug("netsight.async: %d writes together failed; each again alone", len(group))
        else:
            for write, result in zip(group, results):
                write.settle(result)
            return
    for write in group:
        try:
            result = in_own_transaction(db, write.func)
        except Exception as exc:
            logger.exception("netsight.async: a job's end, written behind, could not be committed")
            if write.on_failure is not None:  # first: the job stays held (Pool.end_behind) until settled
                _call(lambda: write.on_failure(exc))  # noqa: B023 (called at once)
            write.settle(error=exc)
        else:
            write.settle(result)


WRITER = Writer()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=WRITER._reset)  # the parent's writer thread is not the child's
