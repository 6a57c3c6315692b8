"""SIGTERM and SIGINT: this instance says it stopped, and marks its jobs, only when the signal ends the process.

On SIGTERM or SIGINT the signal goes to the handler that was there before
(Zope's, waitress's, or the default). The instance says it stopped, and
marks its jobs ``interrupted`` (or queues again those that may run again),
only when the process really ends, so that a live instance never reads
stopped:

- the default action (``SIG_DFL``: SIGTERM under ``runwsgi``) ends the
  process: it marks first, then lets the signal terminate it;
- a handler that raises (KeyboardInterrupt, SystemExit: SIGINT under
  ``runwsgi``) may end it or not, since the exception may be caught. The
  instance then only stops claiming jobs queued elsewhere (``stopping``),
  and marks at the end of the process: when ``runwsgi`` closes its
  databases, its server gone (``internals.before_databases_close``: at
  once after a SIGINT, within waitress's 5 s for the requests under way),
  or at exit under another server (``atexit``, the database still open
  there). The jobs that end meanwhile end *done*. If the process still
  runs ``STOP_GRACE`` seconds after the signal, no end came (the exception
  was caught and it serves on): it claims jobs again, and nothing was
  written that would need undoing. Marking in the handler and undoing it
  later would have made a live instance and its running jobs read stopped
  meanwhile, to every instance;
- a handler that returns, the process going on, marks nothing, and a
  signal that the process ignores (``SIG_IGN``: SIGINT for a command
  started with ``&`` from a script) is left alone;
- a signal that comes while the handler of another runs (Ctrl-C twice,
  a process group's SIGTERM that ``make`` passes on) is handled after it,
  not within it (where it waited for a lock the first held); if the first
  ended the process, it is moot.
"""

from netsight.asynchronous import behind
from netsight.asynchronous import internals
from netsight.asynchronous import registry
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.transactions import holds_turn

import atexit
import logging
import os
import signal
import threading
import time


logger = logging.getLogger("netsight.async")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_DEADLINE = 3.0  # seconds the signal handler spends marking jobs, at most
STOP_GRACE = 30.0  # seconds after a signal's exception within which the process should end

_ends_written = False  # process_ends waited for the ends written behind (behind.py)
_stopping = MAINTENANCE.stopping  # set by the signal handler: the maintenance thread claims no more jobs
_stop_pending = None  # a token of the last signal whose exception may end the process
_end_lock = threading.Lock()  # the end of the process, or its serving on: one of them, once
_end_hooks = []  # installed already (once per process)
_grace = None  # the timer of the last signal's STOP_GRACE
# A handler of ours runs (in the main thread, where Python runs them). Python runs a handler
# again within itself when a second signal comes meanwhile (Ctrl-C twice; make passing on the
# SIGTERM its process group got), and the second run waited for a lock that the first held
# (the event of ``_stopping``, the storage's commit): the instance hung for good. A signal that
# comes meanwhile waits (``_deferred``) and is sent again once the first is handled.
_handling = False
_deferred = []  # the signals that came while one was handled, in order


def stopping():
    """Whether this instance is stopping (SIGTERM, SIGINT): it takes no more jobs."""
    return _stopping.is_set()


def install_signal_handlers():
    """Mark this instance's jobs interrupted when SIGTERM or SIGINT ends it.

    A signal that the process ignores keeps being ignored: no handler is
    installed for it. Signal handlers can be installed from the main
    thread only (Zope's start-up runs there); elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if not _end_hooks:
        _end_hooks.append(True)
        internals.before_databases_close(process_ends)  # runwsgi: after its server, before the databases
        atexit.register(process_ends)  # another server: at exit, its databases still open
    for signum in SIGNALS:
        previous = signal.getsignal(signum)
        if getattr(previous, "netsight_async", False):
            continue  # installed already
        if previous == signal.SIG_IGN:  # e.g. SIGINT of `runwsgi ... &` in a script: not a stop
            logger.info("netsight.async: %s is ignored by this process; it stays ignored", signal.Signals(signum).name)
            continue
        signal.signal(signum, _handler(previous))
    return True


def _handler(previous):
    """The handler of a signal whose handler was ``previous``: the instance
    says it stopped only when the process ends."""
    if previous is None:  # installed by C code, unknown to Python: act as the default
        previous = signal.SIG_DFL

    def handler(signum, frame):
        global _handling
        if _handling:  # a second signal while the first is handled: handled after it (see _handling)
            _deferred.append(signum)
            return None
        _handling = True
        try:
            if callable(previous):
                try:
                    previous(signum, frame)
                except BaseException:  # KeyboardInterrupt, SystemExit: the process may end
                    _stop_pending_on(signum)
                    raise
                # It returned: the process goes on, and so do its jobs.
                logger.info("netsight.async: %s did not stop this instance", signal.Signals(signum).name)
                return None
            _stop()  # SIG_DFL: SIGTERM and SIGINT terminate the process
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return None
        finally:
            _handling = False
            _handle_deferred()

    handler.netsight_async = True
    return handler


def _handle_deferred():
    """The signals that came while one of ours was handled, each sent again once, now that no lock is held:
    a SIGTERM that came during a SIGINT whose exception is caught still stops the process."""
    pending = list(dict.fromkeys(_deferred))
    _deferred.clear()
    for signum in pending:
        logger.info("netsight.async: %s came while another signal was handled; handled now", signal.Signals(signum).name)
        os.kill(os.getpid(), signum)


def _reset_in_child():
    """A child forked while a signal was handled handles its own."""
    global _handling
    _handling = False
    _deferred.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


def _stop_pending_on(signum):
    """A signal's exception may end the process: take no more jobs, mark at its end
    (``process_ends``), take jobs again if it serves on (``serving_on``)."""
    global _stop_pending, _grace
    _stopping.set()  # first: the maintenance thread takes no more jobs
    _stop_pending = pending = object()
    logger.info(
        "netsight.async: %s; this instance takes no more jobs and marks its own as it ends",
        signal.Signals(signum).name,
    )
    if _grace is not None:
        _grace.cancel()
    _grace = threading.Timer(STOP_GRACE, serving_on, args=(pending,))
    _grace.name, _grace.daemon = "netsight.async stop grace", True
    _grace.start()


def process_ends():
    """The process ends (its databases about to close, or at exit): if a
    signal's exception ended it, say this instance stopped and mark its jobs."""
    global _stop_pending, _ends_written
    if not _ends_written:  # however it ends, once: at its second call (atexit) the databases may be closed
        _ends_written = True
        write_ends_behind(STOP_DEADLINE / 2)
    with _end_lock:
        if _stop_pending is None:
            return False
        _stop_pending = None
        if _grace is not None:
            _grace.cancel()
            _grace.join(1)
        _stop()
    return True


def serving_on(pending):
    """``STOP_GRACE`` seconds after the signal whose exception was ``pending``
    the process still runs, and did not end: the exception was caught. It
    takes jobs again."""
    global _stop_pending
    with _end_lock:
        if _stop_pending is not pending:
            return False  # it ended, or a later signal has its own check
        if not threading.main_thread().is_alive():
            return False  # the process is ending: process_ends comes (atexit)
        _stop_pending = None
        _stopping.clear()
    logger.warning(
        "netsight.async: the exception of a signal was caught %s seconds ago and this instance serves on: "
        "it takes jobs again",
        STOP_GRACE,
    )
    return True


def _stop():
    _stopping.set()  # first: the maintenance thread takes no more jobs
    mark_stopped(MAINTENANCE.db)


def write_ends_behind(timeout):
    """Wait, ``timeout`` seconds at most, until the ends of jobs written behind
    (behind.py) are committed; not in a thread that holds the turn to write,
    which the writer needs."""
    if holds_turn():
        return False
    if behind.WRITER.flush(timeout=timeout):
        return True
    logger.warning("netsight.async: the process ends before the ends of some jobs were written")
    return False


def mark_stopped(db):
    """Say in ``db`` that this instance stopped, and interrupt its queued and
    running jobs (or queue them again, if they may run again).

    First the instance says it stopped (one small write: from then on every
    instance reads its jobs as interrupted), then each job is marked, in a
    transaction of its own, for at most ``STOP_DEADLINE`` seconds: a signal
    handler must not keep a stopping server waiting. A database out of
    reach (a ZEO server away) is not written at all, and the writes are
    waited for one and a half ``STOP_DEADLINE`` at most: a ZEO client
    waits up to 30 s for its server at each call, and the stop took a
    minute.
    """
    if db is None:
        return
    if not _reachable(db):
        logger.warning(
            "netsight.async: stopping without marking the jobs of this instance: its database is out of reach "
            "(they read interrupted once its heartbeat is older than heartbeat-timeout)"
        )
        return
    if holds_turn():  # this thread holds the turn to write, which a thread of its own would wait for
        _mark_stopped(db)
        return
    # In a thread of its own, waited for a little longer than its deadline: a database that goes out of
    # reach meanwhile keeps a call waiting for its reconnection (ZEO's wait_timeout, 30 s) whatever the deadline.
    marking = threading.Thread(target=_mark_stopped, args=(db,), name="netsight.async stop", daemon=True)
    marking.start()
    marking.join(STOP_DEADLINE + STOP_DEADLINE / 2)
    if marking.is_alive():
        logger.warning("netsight.async: stopping before the jobs of this instance were marked: its database is slow "
                       "or out of reach")


def _reachable(db):
    """Whether ``db``'s storage is connected (a ZEO client's may not be; the others always are)."""
    is_connected = getattr(db.storage, "is_connected", None)
    try:
        return is_connected is None or bool(is_connected())
    except Exception:  # an adapter's storage that cannot say: tried
        return True


def _mark_stopped(db):
    """``mark_stopped``'s writes, in the calling thread."""
    iid, deadline = instance_id(), time.monotonic() + STOP_DEADLINE
    write_ends_behind(STOP_DEADLINE / 2)  # the jobs that ended are not interrupted
    try:
        # Where no process was ever started, there is nothing to say: nothing is written.
        registry.in_own_transaction(
            db, lambda root: registry.exists(root) and registry.beat_in(root, iid, stopped=True), attempts=2
        )
        pids = registry.in_own_transaction(db, lambda root: registry.active_of(root, iid), attempts=1)
        for pid in pids:
            if time.monotonic() > deadline:
                break
            registry.change(db, pid, lambda record: record.interrupt(registry.STOPPED_REASON), attempts=2)
    except Exception:
        logger.exception("netsight.async: could not mark the jobs of this stopping instance")
    else:
        logger.info("netsight.async: stopping; the jobs of this instance are marked interrupted or queued again")
