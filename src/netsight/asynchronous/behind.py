"""Job ends written behind: one writer thread commits them, grouped, while the job threads run on.

A pool thread that ends a job while the job it runs next is already
started (its *running* committed with an end before) need not wait for
this end's commit: it hands the write here (``submit``) and runs that
job. The writer thread commits every write that waits, together, in one
short transaction (``transactions.in_own_transaction``: a group that
fails is run again one by one, each with its retries), and tells each
(``Write.wait``). With two job threads, a drain's commits then each carry
the ends of the jobs that ended during the one before, instead of one
end each (docs/performance.rst, "Ends written behind").

The writer thread starts with the first write and ends after ``IDLE``
seconds without one; ``flush`` waits until every write handed over so
far is committed (an instance that stops).
"""

from collections import deque

from netsight.asynchronous.transactions import GROUP
from netsight.asynchronous.transactions import in_own_transaction
from netsight.asynchronous.transactions import one_writer_for_this_thread

import logging
import threading


logger = logging.getLogger("netsight.async")

THREAD_NAME = "netsight.async writer"  # not a pool thread's prefix (pool.THREAD_PREFIX)
IDLE = 1.0  # seconds without a write before the writer thread ends (the next write starts it again)


class Write:
    """A write handed to the writer: ``func(root)``, to commit in ``db``; ``wait`` returns what it returned."""

    __slots__ = ("db", "func", "_done", "result", "error")

    def __init__(self, db, func):
        self.db = db
        self.func = func
        self._done = threading.Event()
        self.result = None
        self.error = None  # the exception that kept it from committing

    def settle(self, result=None, error=None):
        self.result, self.error = result, error
        self._done.set()

    def wait(self, timeout=None):
        """What ``func`` returned once committed; raises its error if it could not be."""
        if not self._done.wait(timeout):
            raise TimeoutError("the write behind is not committed yet")
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def done(self):
        return self._done.is_set()


class Writer:
    """The writes waiting to be committed, and the thread that commits them."""

    def __init__(self):
        self._lock = threading.Condition(threading.Lock())
        self._queue = deque()
        self._thread = None
        self._busy = False

    def submit(self, db, func):
        """Hand ``func(root)`` over, to be committed in ``db`` soon; returns its ``Write``."""
        return self.hand_over(Write(db, func))

    def hand_over(self, write):
        """Hand ``write`` (a ``Write``) over, to be committed soon; returns it."""
        with self._lock:
            self._queue.append(write)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
            self._lock.notify()
        return write

    def flush(self, timeout=None):
        """Wait until every write handed over so far is committed; False if ``timeout`` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._queue and not self._busy, timeout)

    def pending(self):
        """How many writes wait or are being committed (tests)."""
        with self._lock:
            return len(self._queue) + self._busy

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
            logger.debug("netsight.async: %d ends written behind failed together; each again alone", len(group))
        else:
            for write, result in zip(group, results):
                write.settle(result)
            return
    for write in group:
        try:
            write.settle(in_own_transaction(db, write.func))
        except Exception as exc:
            logger.exception("netsight.async: a job's end written behind could not be committed")
            write.settle(error=exc)


WRITER = Writer()
