"""This instance: its id, its heartbeat, and what it does when it is stopped.

Each Zope process has an id. While it has queued or running jobs, one
maintenance thread writes its heartbeat (one small write per interval,
never one per job or per poll), so that every instance can tell that its
jobs are alive; while it runs jobs, it also looks every
``cancel-interval`` (a read, no write) for cancel requests made on other
instances. It runs the housekeeping passes and the mail pass
(``notify.py``) and, with room in the pool, claims jobs queued in the
database (``claims.py``, set by ``startup.py``).

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
  started with ``&`` from a script) is left alone.
"""

from netsight.asynchronous import housekeeping
from netsight.asynchronous import internals
from netsight.asynchronous import notify
from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous.pool import AHEAD
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.progress import REPORTS

import atexit
import itertools
import logging
import os
import random
import secrets
import signal
import socket
import threading
import time
import transaction


logger = logging.getLogger("netsight.async")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_DEADLINE = 3.0  # seconds the signal handler spends marking jobs, at most
STOP_GRACE = 30.0  # seconds after a signal's exception within which the process should end
LOST_REASON = "its worker lost it (the database could not be reached when it ended)"
WATCH_INTERVAL = 0.05  # seconds between two looks at the count of jobs queued elsewhere (a sync, a read)

_cancels = set()  # ids of this instance's processes asked to stop
_stopping = threading.Event()  # set by the signal handler: no more jobs are taken
_stop_pending = None  # a token of the last signal whose exception may end the process
_end_lock = threading.Lock()  # the end of the process, or its serving on: one of them, once
_end_hooks = []  # installed already (once per process)
_grace = None  # the timer of the last signal's STOP_GRACE


def _new_identity():
    global _instance_id, _tickets
    _instance_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    _tickets = itertools.count(1)


_new_identity()
os.register_at_fork(after_in_child=_new_identity)  # a forked worker is an instance of its own


def instance_id():
    """This instance's id: host, process id and a random part."""
    return _instance_id


def next_ticket():
    """A job's place in this instance's queue: increasing, per instance."""
    return next(_tickets)


def ask_to_cancel(process_id):
    """Note here that ``process_id`` was asked to stop (checked without a ZODB load).

    Only for a job that this instance runs: the others are no business of
    this memory.
    """
    if POOL.running(process_id):
        _cancels.add(process_id)


def cancel(db, process_id):
    """Cancel a process (for whoever may): a queued one at once (and out of
    this instance's queue), a running one at its next report. Returns
    whether its record changed: False if it had ended, None if there is none."""
    changed = registry.change(db, process_id, registry.ProcessRecord.request_cancel)
    ask_to_cancel(process_id)
    POOL.withdraw(process_id)  # if it waits here, it leaves the queue now
    return changed


def stopping():
    """Whether this instance is stopping (SIGTERM, SIGINT): it takes no more jobs."""
    return _stopping.is_set()


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
        self._pass = threading.Lock()  # held while a pass uses the database
        self._db_lock = threading.Lock()  # for watch and release
        self._beat_now = False
        self.claimer = None  # claims.claim, once set (startup.py): takes jobs queued in the database
        self._next_mark = 0.0  # when the claims next look for jobs of dead instances
        self._claim_soon = False  # a job ended here: claim the next one queued elsewhere, if one waits
        self._watch = None  # (db, transaction manager, connection): the connection kept open to watch the count
        self._seen = None  # the serial of the count of unclaimed jobs at the last look
        self._seen_tid = None  # the storage's last transaction that a look surely saw (where it is pushed)
        self._last_tid = None  # the storage's last transaction at the last look
        self._waiting = 0  # the jobs that waited unclaimed at the last look

    def watch(self, db):
        """Maintain ``db`` (the main database), from now on; beat at once."""
        with self._db_lock:
            self.db = db
        self._beat_now = True
        with self._started_lock:
            if not self.is_alive() and self.ident is None:
                self.start()
        self._wake.set()

    def poke(self):
        """Look again at what is due (a progress report was held)."""
        self._wake.set()

    def claim_soon(self):
        """A job ended here (``Pool.when_done``): claim now the next job queued elsewhere, if one waits."""
        if self.claimer is not None:
            self._claim_soon = True
            self._wake.set()

    def release(self, db):
        """Maintain ``db`` no more, once the pass under way has ended.

        For a database about to be closed (a test's, a script's): the
        thread then writes held progress reports only, until ``watch``
        gives it a database again.
        """
        if threading.current_thread() is self:
            raise RuntimeError("the maintenance thread cannot wait for its own pass")
        with self._db_lock:
            if self.db is db:
                self.db = None
        with self._pass:
            if self._watch is not None and self._watch[0] is db:
                self._stop_watching()

    def run(self):
        now = time.monotonic()
        due = {
            "beat": now,
            "claim": now,
            "watch": now,
            "cancels": now,
            "housekeeping": now + min(settings.get("housekeeping-interval"), 60),
            "mail": now + notify.PASS_INTERVAL,
        }
        while True:
            try:
                with self._pass:
                    self._pass_over(due)
            except Exception:  # a closed database (tests, scripts), a lost ZEO server: try later
                logger.debug("netsight.async maintenance failed", exc_info=True)
                due["beat"] = max(due["beat"], time.monotonic() + heartbeat_interval())
                due["claim"] = max(due["claim"], time.monotonic() + settings.get("claim-interval"))
                due["watch"] = max(due["watch"], time.monotonic() + settings.get("claim-interval"))
                due["cancels"] = max(due["cancels"], time.monotonic() + settings.get("cancel-interval"))
            self._wake.wait(self._until_due(due))
            self._wake.clear()

    def _until_due(self, due):
        """Seconds until the next thing due (None: nothing until ``watch`` or ``poke``)."""
        times = [REPORTS.next_due()]
        if self.db is not None:  # released: no heartbeat, claim or housekeeping is due
            times += [due["beat"], due["housekeeping"], due["mail"]]
            if POOL.busy():  # cancels are looked for only while there are jobs here
                times.append(due["cancels"])
            if self._claims():
                times.append(due["claim"])
                if POOL.room(ahead=AHEAD):  # a full pool is told when a job ends (claim_soon)
                    times.append(due["watch"])
        times = [t for t in times if t is not None]
        return max(0.0, min(times) - time.monotonic()) if times else None

    def _pass_over(self, due):
        """Do what is due: write held reports, claim, beat, keep house; ``due`` gets the next times."""
        flush_reports()
        db = self.db
        if db is None:  # released
            return
        now = time.monotonic()
        if now >= due["claim"]:  # the timed pass: the safety net
            due["claim"] = now + settings.get("claim-interval")
            due["watch"] = now + WATCH_INTERVAL
            self._claim_soon = False
            self._claim(db)
        elif self._claim_soon or now >= due["watch"]:
            due["watch"] = now + WATCH_INTERVAL
            soon, self._claim_soon = self._claim_soon, False
            self._claim_news(db, soon)
        if time.monotonic() >= due["cancels"]:
            due["cancels"] = time.monotonic() + settings.get("cancel-interval")
            if POOL.busy():
                learn_cancels(db)
        if self._beat_now or time.monotonic() >= due["beat"]:
            self._beat_now = False
            busy = self.beat(db)
            # An idle instance only looks now and then whether it has jobs.
            due["beat"] = time.monotonic() + heartbeat_interval() * (1 if busy else 6)
        if time.monotonic() >= due["mail"]:
            due["mail"] = time.monotonic() + notify.PASS_INTERVAL
            notify.mail_pass(db)  # the owners of processes owed a mail (notify.py)
        if time.monotonic() >= due["housekeeping"]:
            # Jittered, so that instances started together do not sweep together.
            due["housekeeping"] = time.monotonic() + settings.get("housekeeping-interval") * random.uniform(0.8, 1.2)
            housekeeping.run(db, instance_id(), deadline=time.monotonic() + heartbeat_interval() / 2)

    def _claims(self):
        """Whether this instance claims jobs queued in the database."""
        return self.claimer is not None and settings.get("pool-size") > 0 and not stopping()

    def _claim_news(self, db, soon):
        """Claim at once if a job waits unclaimed and this instance has room:
        a job queued since the last look (the count's serial moved), or any
        job after one ended here (``soon``). The look syncs a connection
        kept open (ZEO: the invalidations the server sent are applied;
        RelStorage: its poll) and reads the count, loaded again only when
        it changed; nothing is written."""
        if not self._claims() or not POOL.room(ahead=AHEAD):
            return
        try:
            waiting, changed = self._unclaimed_news(db)
        except Exception:  # a lost ZEO server: the timed pass tries again
            logger.debug("netsight.async: looking for queued jobs failed", exc_info=True)
            self._stop_watching()
            return
        if waiting > 0 and (changed or soon):
            self._claim(db, mark=False)

    def _unclaimed_news(self, db):
        """``(how many jobs wait unclaimed, whether that changed since the last look)``.

        Where the storage learns of every commit as it is made (ZEO's
        invalidations, a FileStorage's own commits), an unchanged last
        transaction means nothing changed: the last answer stands, and no
        transaction is begun. RelStorage learns of them by polling: each
        look begins one.
        """
        last = None if _polled(db) else db.storage.lastTransaction()
        if last is not None and last == self._seen_tid and self._watch is not None and self._watch[0] is db:
            return self._waiting, False
        if self._watch is None or self._watch[0] is not db:
            self._stop_watching()
            manager = transaction.TransactionManager()
            self._watch = (db, manager, db.open(transaction_manager=manager))
        _db, manager, connection = self._watch
        try:
            manager.begin()
            waiting, serial = registry.unclaimed_count(connection.root())
        finally:
            manager.abort()
        changed, self._seen, self._waiting = serial != self._seen, serial, waiting
        # A ZEO client sets its last transaction a moment before its
        # connections get that transaction's invalidations: what this look
        # read is sure only of a last transaction that the look before had
        # read already.
        self._seen_tid = last if last == self._last_tid else None
        self._last_tid = last
        return waiting, changed

    def _stop_watching(self):
        if self._watch is not None:
            _db, _manager, connection = self._watch
            self._watch = None
            try:
                connection.close()
            except Exception:  # a closed database
                logger.debug("netsight.async: closing the watching connection failed", exc_info=True)

    def _claim(self, db, mark=True):
        """Take jobs queued in the database, if this instance may (never fails: the heartbeat goes on).

        ``mark``: the timed pass's, which first queues again the jobs of dead
        instances when that is due; a claim made at once (``_claim_news``)
        does not wait for that.
        """
        if self.claimer is None or stopping():
            return
        try:
            if mark and time.monotonic() >= self._next_mark:
                # Jobs of dead instances that may run again are queued for
                # the taking within half a heartbeat-timeout, not at the
                # next housekeeping pass.
                self._next_mark = time.monotonic() + settings.get("heartbeat-timeout") / 2
                housekeeping.mark_dead(db, instance_id(), time.time())
            self.claimer(db)
        except Exception:  # a lost ZEO server: claim later
            logger.debug("netsight.async: claiming queued jobs failed", exc_info=True)

    def beat(self, db):
        """If this instance has jobs: write its heartbeat, and learn of cancel requests.

        An active record of this instance that its pool no longer holds (its
        worker could not write its end: the database was out of reach) is
        interrupted, so that it does not read "running" for ever.
        """
        iid, now, timeout = instance_id(), time.time(), settings.get("heartbeat-timeout")

        def write(root):
            pids = registry.active_of(root, iid)
            if not pids:
                return False
            registry.beat_in(root, iid)
            processes = root.get(registry.ROOT_KEY)
            for pid in pids:
                record = processes.get(pid)
                if record is None:
                    continue
                if record.cancel_requested:
                    ask_to_cancel(pid)
                if not POOL.holds(pid) and now - (record.started or record.created) > timeout:
                    registry.change_in(root, pid, lambda r: r.interrupt(LOST_REASON))
            return True

        return bool(registry.in_own_transaction(db, write))


def _polled(db):
    """Whether ``db``'s storage learns of other clients' commits only when it polls (RelStorage)."""
    return type(db.storage).__module__.startswith("relstorage")


MAINTENANCE = Maintenance()
POOL.when_done = MAINTENANCE.claim_soon  # a thread that ends a job: the next one queued elsewhere, at once


def learn_cancels(db):
    """Note the cancels asked on other instances of the jobs this pool runs
    (a read, never a write); how many it learned of.

    The maintenance thread calls it every ``cancel-interval`` while this
    instance has jobs, so that ``is_cancelled`` and ``set_progress`` see
    such a cancel within that interval, and stay free of ZODB loads. A
    connection opened anew reads what the other instances committed (ZEO
    pushes their invalidations; RelStorage polls); the records read are
    loaded again only when they changed.
    """
    iid = instance_id()

    def read(root):
        processes = root.get(registry.ROOT_KEY)
        learned = 0
        for pid in registry.active_of(root, iid):
            if cancel_asked(pid) or not POOL.running(pid):
                continue
            record = processes.get(pid)
            if record is not None and record.cancel_requested:
                ask_to_cancel(pid)
                learned += 1
        return learned

    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        manager.begin()
        return read(connection.root())
    finally:
        manager.abort()
        connection.close()


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


def flush_reports():
    """Write the held progress reports whose interval is over (see progress.py)."""
    for process_id, db, (progress, message) in REPORTS.due():

        def report(record, progress=progress, message=message):
            if not record.is_run(instance_id()):
                return False  # no longer this instance's: it stops at its next report
            record.report(progress, message)
            return record.cancel_requested

        if registry.change(db, process_id, report):
            ask_to_cancel(process_id)


def heartbeat_interval():
    """``heartbeat-interval``, at most a third of ``heartbeat-timeout`` (else live jobs would read dead)."""
    interval, timeout = settings.get("heartbeat-interval"), settings.get("heartbeat-timeout")
    if interval > timeout / 3:
        logger.warning("netsight.async: heartbeat-interval %s is over a third of heartbeat-timeout %s", interval, timeout)
        return timeout / 3
    return interval


def _handler(previous):
    """The handler of a signal whose handler was ``previous``: the instance
    says it stopped only when the process ends."""
    if previous is None:  # installed by C code, unknown to Python: act as the default
        previous = signal.SIG_DFL

    def handler(signum, frame):
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

    handler.netsight_async = True
    return handler


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
    global _stop_pending
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
    stopped(MAINTENANCE.db)


def stopped(db):
    """This instance stops: its queued and running jobs are interrupted (or queued again, if they may).

    First the instance says it stopped (one small write: from then on every
    instance reads its jobs as interrupted), then each job is marked, in a
    transaction of its own, for at most ``STOP_DEADLINE`` seconds: a signal
    handler must not keep a stopping server waiting.
    """
    if db is None:
        return
    iid, deadline = instance_id(), time.monotonic() + STOP_DEADLINE
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
