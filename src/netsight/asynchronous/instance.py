"""This instance: its id, its heartbeat, and what it does when it is stopped.

Each Zope process has an id. While it has queued or running jobs, one
maintenance thread writes its heartbeat (one small write per interval,
never one per job or per poll), so that every instance can tell that its
jobs are alive, and learns of cancel requests made on other instances; it
also runs the housekeeping passes. On SIGTERM or SIGINT the instance marks
its jobs ``interrupted`` and says it stopped, then hands the signal on to
the handler that was there before (Zope's, waitress's, or the default).
"""

from netsight.asynchronous import housekeeping
from netsight.asynchronous import registry
from netsight.asynchronous import settings

import itertools
import logging
import os
import secrets
import signal
import socket
import threading
import time


logger = logging.getLogger("netsight.async")

INSTANCE_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
SIGNALS = (signal.SIGTERM, signal.SIGINT)

_tickets = itertools.count(1)
_cancels = set()  # ids of this instance's processes asked to stop


def next_ticket():
    """A job's place in this instance's queue: increasing, per instance."""
    return next(_tickets)


def ask_to_cancel(process_id):
    """Note here that ``process_id`` was asked to stop (checked without a ZODB load)."""
    _cancels.add(process_id)


def cancel_asked(process_id):
    return process_id in _cancels


def forget(process_id):
    _cancels.discard(process_id)


class Maintenance(threading.Thread):
    """One thread per instance: heartbeat while there are jobs, housekeeping now and then."""

    def __init__(self):
        super().__init__(name="netsight.async maintenance", daemon=True)
        self.db = None
        self._wake = threading.Event()
        self._started_lock = threading.Lock()

    def watch(self, db):
        """Maintain ``db`` (the main database), from now on; beat at once."""
        self.db = db
        with self._started_lock:
            if not self.is_alive() and self.ident is None:
                self.start()
        self._wake.set()

    def run(self):
        next_housekeeping = time.monotonic() + min(settings.get("housekeeping-interval"), 60)
        while True:
            db = self.db
            busy = False
            try:
                busy = self.beat(db)
                if time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + settings.get("housekeeping-interval")
                    housekeeping.run(db, INSTANCE_ID)
            except Exception:  # a closed database (tests, scripts), a lost ZEO server: try later
                logger.debug("netsight.async maintenance failed", exc_info=True)
            interval = settings.get("heartbeat-interval")
            wait = interval if busy else max(0.0, min(next_housekeeping - time.monotonic(), interval * 6))
            self._wake.wait(wait)
            self._wake.clear()

    def beat(self, db):
        """If this instance has jobs: write its heartbeat, and learn of cancel requests."""

        def write(root):
            pids = registry.active_of(root, INSTANCE_ID)
            if not pids:
                return False
            registry.beat_in(root, INSTANCE_ID)
            processes = root.get(registry.ROOT_KEY)
            for pid in pids:
                record = processes.get(pid)
                if record is not None and record.cancel_requested:
                    ask_to_cancel(pid)
            return True

        return bool(registry.in_own_transaction(db, write))


MAINTENANCE = Maintenance()


def install_signal_handlers():
    """Mark this instance's jobs interrupted on SIGTERM and SIGINT, then chain.

    Signal handlers can be installed from the main thread only (Zope's
    start-up runs there); elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    for signum in SIGNALS:
        previous = signal.getsignal(signum)
        if getattr(previous, "netsight_async", False):
            continue  # installed already
        signal.signal(signum, _handler(previous))
    return True


def _handler(previous):
    def handler(signum, frame):
        stopped(MAINTENANCE.db)
        if callable(previous):
            return previous(signum, frame)
        if previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        return None

    handler.netsight_async = True
    return handler


def stopped(db):
    """This instance stops: its queued and running jobs are interrupted."""
    if db is None:
        return

    def mark(root):
        for pid in registry.active_of(root, INSTANCE_ID):
            registry.change_in(root, pid, lambda record: record.interrupt(registry.STOPPED_REASON))
        registry.beat_in(root, INSTANCE_ID, stopped=True)

    try:
        registry.in_own_transaction(db, mark)
    except Exception:
        logger.exception("netsight.async: could not mark the jobs of this stopping instance")
    else:
        logger.info("netsight.async: stopping; the jobs of this instance are marked interrupted")


def on_process_starting(event):
    """Zope started (in the main thread): signal handlers, and maintenance of the main database."""
    install_signal_handlers()
    import Zope2

    db = getattr(Zope2, "DB", None)
    if db is not None:
        MAINTENANCE.watch(db)
