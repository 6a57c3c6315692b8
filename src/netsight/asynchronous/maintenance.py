"""The maintenance thread of this instance: heartbeat, claims, cancels asked elsewhere, housekeeping, mails.

One thread per instance (``netsight.async maintenance``). While the
instance has queued or running jobs, it writes the instance's heartbeat
(one small write per interval, never one per job or per poll), so that
every instance can tell that its jobs are alive; it says which queues the
instance serves (queues.py), and an idle instance that serves some queues
only writes it within a third of ``heartbeat-timeout`` (where a registry
exists), so that the pages know a live worker of each; while it runs jobs, it
also looks every ``cancel-interval`` (a read, no write) for cancel
requests made on other instances (``cancels.learn_cancels``). It writes
held progress reports when they are due (``progress.write_due``), runs
the housekeeping passes and the mail pass (``notify.py``) and, with room
in the pool, claims jobs queued in the database (its ``claimer``,
``claims.claim_queued``, set by ``startup.py``); while it may claim, it
also starts the periodic jobs whose period has come (``periodic.py``,
every ``PERIODIC_INTERVAL``) and queues the scheduled processes that are due
(a view's ``run_after``: ``registry.queue_due``, at their time: it reads the
soonest one's time every ``claim-interval``, and at each look for news while
it has room, so that one scheduled a moment before its time, here or
elsewhere, is queued at it). A failure of any of these
is logged as an error and counted for the control panel (``faults.py``);
the thread goes on.
"""

from netsight.asynchronous import housekeeping
from netsight.asynchronous import notify
from netsight.asynchronous import periodic
from netsight.asynchronous import progress
from netsight.asynchronous import queues
from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous import transactions
from netsight.asynchronous.cancels import ask_to_cancel
from netsight.asynchronous.cancels import learn_cancels
from netsight.asynchronous.faults import Faults
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.pool import AHEAD
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.progress import REPORTS
from netsight.asynchronous.transactions import one_writer_for_this_thread

import logging
import random
import threading
import time
import transaction


logger = logging.getLogger("netsight.async")

LOST_REASON = "its worker lost it (the database could not be reached when it ended)"
PERIODIC_INTERVAL = 1.0  # seconds between two looks at the periodic jobs' schedules (periodic.py)
WATCH_INTERVAL = 0.05  # seconds between two looks at the count of jobs queued elsewhere (a sync, a read)


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
        self._beat_soon = False  # a job was handed to the pool: beat within a heartbeat interval
        self.claimer = None  # claims.claim_queued, once set (startup.py): takes jobs queued in the database
        self._next_mark = 0.0  # when the claims next look for jobs of dead instances
        self._claim_soon = False  # a job ended here: claim the next one queued elsewhere, if one waits
        self._watch = None  # (db, transaction manager, connection): the connection kept open to watch the count
        self._seen = None  # the serial of the count of unclaimed jobs at the last look
        self._seen_tid = None  # the storage's last transaction that a look surely saw (where it is pushed)
        self._last_tid = None  # the storage's last transaction at the last look
        self._waiting = 0  # the jobs that waited unclaimed at the last look
        self._next_scheduled = None  # when the soonest scheduled process is due, as the last look read it (a time.time())
        self.stopping = threading.Event()  # set by the signal handlers (signals.py): it claims no more jobs
        self.faults = Faults()  # its failures, for the log and the control panel
        self._fault_beat = float("-inf")  # when a failure last made the heartbeat come at once

    def watch(self, db, beat_now=True):
        """Maintain ``db`` (the main database), from now on; beat at once.

        ``beat_now`` False (a job handed to the pool, ``worker.submit``): beat
        within a heartbeat interval rather than at once, unless ``db`` is new
        here. Until then the job's record stands for a beat (its start time:
        ``registry.orphaned``), and a write a job is spared: an instance
        that ran a job a moment ago would otherwise write its heartbeat again
        for each job, a commit of its own when the jobs come one by one.
        """
        with self._db_lock:
            new = self.db is not db
            self.db = db
        if beat_now or new:
            self._beat_now = True
        else:
            self._beat_soon = True
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
        transactions.let_go(db)  # the connection kept for the worker's short transactions

    def run(self):
        one_writer_for_this_thread()
        now = time.monotonic()
        due = {
            "beat": now,
            "claim": now,
            "watch": now,
            "cancels": now,
            "housekeeping": now + min(settings.get("housekeeping-interval"), 60),
            "mail": now + notify.PASS_INTERVAL,
            "periodic": now,
            "scheduled": now,
        }
        while True:
            try:
                with self._pass:
                    self._pass_over(due)
            except Exception as exc:  # a lost ZEO server, a broken record, a bug: try later
                self._failed("maintenance", exc)
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
            if POOL.has_jobs():  # cancels are looked for only while there are jobs here
                times.append(due["cancels"])
            if self._claims():
                times.append(due["claim"])
                if periodic.SCHEDULES:
                    times.append(due["periodic"])
                times.append(due["scheduled"])
                if POOL.room(ahead=AHEAD):  # a full pool is told when a job ends (claim_soon)
                    times.append(due["watch"])
        times = [t for t in times if t is not None]
        return max(0.0, min(times) - time.monotonic()) if times else None

    def _pass_over(self, due):
        """Do what is due: write held reports, claim, beat, keep house; ``due`` gets the next times."""
        progress.write_due()
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
            if self._next_scheduled is not None:  # what that look read: one scheduled since is queued at its time
                due["scheduled"] = min(due["scheduled"], now + max(0.0, self._next_scheduled - time.time()))
                self._next_scheduled = None
        if self._claims() and periodic.SCHEDULES and time.monotonic() >= due["periodic"]:
            due["periodic"] = time.monotonic() + PERIODIC_INTERVAL
            if periodic.start_due(db):  # queued for any instance: this one claims at once if it has room
                self._claim_soon = True
                self._wake.set()
        if self._claims() and time.monotonic() >= due["scheduled"]:
            due["scheduled"] = self._queue_scheduled(db)
        if time.monotonic() >= due["cancels"]:
            due["cancels"] = time.monotonic() + settings.get("cancel-interval")
            if POOL.has_jobs():
                learn_cancels(db)
        if self._beat_soon:  # an idle instance's next beat may be far: a job's comes within the interval
            self._beat_soon = False
            due["beat"] = min(due["beat"], time.monotonic() + heartbeat_interval())
        if self._beat_now or time.monotonic() >= due["beat"]:
            self._beat_now = False
            busy = self.beat(db)
            # An idle instance only looks now and then whether it has jobs (or failures to write);
            # one that claims the jobs of some queues only beats within a third of heartbeat-timeout,
            # to say which queues it serves.
            idle = heartbeat_interval() * 6
            if self._claims() and queues.served() is not None:
                idle = min(idle, settings.get("heartbeat-timeout") / 3)
            due["beat"] = time.monotonic() + (heartbeat_interval() if busy or self.faults.unwritten() else idle)
        if time.monotonic() >= due["mail"]:
            due["mail"] = time.monotonic() + notify.PASS_INTERVAL
            notify.mail_pass(db)  # the owners of processes owed a mail (notify.py)
        if time.monotonic() >= due["housekeeping"]:
            # Jittered, so that instances started together do not sweep together.
            due["housekeeping"] = time.monotonic() + settings.get("housekeeping-interval") * random.uniform(0.8, 1.2)
            housekeeping.run(db, instance_id(), deadline=time.monotonic() + heartbeat_interval() / 2)

    def _queue_scheduled(self, db):
        """Queue the scheduled processes that are due (``registry.queue_due``) and claim
        them at once if this instance has room; when to look again: at the next one's
        time, or within ``claim-interval`` (one begun elsewhere meanwhile). A read
        while none is due."""
        wait = settings.get("claim-interval")
        try:
            now = time.time()
            queued, next_at = registry.in_own_transaction(db, lambda root: registry.queue_due(root, now))
        except Exception as exc:  # a lost ZEO server: the next look tries again
            self._failed("queueing scheduled processes", exc)
            return time.monotonic() + wait
        if queued:
            self._claim_soon = True
            self._wake.set()
        if next_at is not None:
            wait = min(wait, max(0.0, next_at - time.time()))
        return time.monotonic() + wait

    def _claims(self):
        """Whether this instance claims jobs queued in the database."""
        return self.claimer is not None and settings.get("job-threads") > 0 and not self.stopping.is_set()

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
        except Exception as exc:  # a lost ZEO server: the timed pass tries again
            self._failed("looking for queued jobs", exc)
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
            self._next_scheduled = registry.next_scheduled(connection.root())  # one begun meanwhile, here or elsewhere
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
        if self.claimer is None or self.stopping.is_set():
            return
        try:
            if mark and time.monotonic() >= self._next_mark:
                # Jobs of dead instances that may run again are queued for
                # the taking within half a heartbeat-timeout, not at the
                # next housekeeping pass.
                self._next_mark = time.monotonic() + settings.get("heartbeat-timeout") / 2
                housekeeping.mark_dead(db, instance_id(), time.time())
            self.claimer(db)
        except Exception as exc:  # a lost ZEO server, a broken record: claim later
            self._failed("claiming queued jobs", exc)

    def _failed(self, what, exc):
        """Log the failure being handled as an error and count it; the heartbeat
        writes it on the instance's record at once, or within a heartbeat
        interval of the last failure written so (a write per failure would
        be a write per pass while, say, the ZEO server is out of reach)."""
        self.faults.failed(what, exc)
        now = time.monotonic()
        if now - self._fault_beat >= heartbeat_interval():
            self._fault_beat = now
            self._beat_now = True

    def beat(self, db):
        """If this instance has jobs: write its heartbeat, and learn of cancel requests; whether it has.

        Its heartbeat says which queues it serves (``queues.served``): the
        pages read there whether a live instance serves a job's queue
        (``registry.serving``); one that claims none publishes none. One that
        serves some queues only (its ``queues`` setting) writes it when idle
        too, where a registry exists; one of every queue (the default) writes
        nothing while idle, as before queues.

        An active record of this instance that its pool no longer holds (its
        worker could not write its end: the database was out of reach) is
        interrupted, so that it does not read "running" for ever. A failure
        of this thread that the heartbeat record does not show yet is
        written there too (``faults.py``), with or without jobs, where a
        registry exists: a database that no site uses (any more) gets none for it.
        """
        iid, now, timeout = instance_id(), time.time(), settings.get("heartbeat-timeout")
        faults = self.faults
        served = queues.served() if self._claims() else ()  # what it serves: none unless it claims jobs

        def write(root):
            pids = registry.active_of(root, iid)
            if not pids and not ((faults.unwritten() or served) and registry.exists(root)):
                return False, None  # nothing to say, or no registry to say it in: none is made for it
            registry.beat_in(root, iid, queues=served)
            written = faults.write_on(registry.instances(root)[iid]) if faults.unwritten() else None
            for pid in pids:
                record = registry.find(root._p_jar, pid)
                if record is None:
                    continue
                if record.cancel_requested:
                    ask_to_cancel(pid)
                if not POOL.holds(pid) and now - (record.started or record.created) > timeout:
                    registry.change_in(root, pid, lambda r: r.interrupt(LOST_REASON))
            return bool(pids), written

        busy, written = registry.in_own_transaction(db, write)
        if written is not None:
            faults.written(written)
        return busy


def _polled(db):
    """Whether ``db``'s storage learns of other clients' commits only when it polls (RelStorage)."""
    return type(db.storage).__module__.startswith("relstorage")


def heartbeat_interval():
    """``heartbeat-interval``, at most a third of ``heartbeat-timeout`` (else live jobs would read dead)."""
    interval, timeout = settings.get("heartbeat-interval"), settings.get("heartbeat-timeout")
    if interval > timeout / 3:
        settings.warn_once(
            ("heartbeat-interval", interval, timeout),  # said once: it is read at every beat
            "netsight.async: heartbeat-interval %s is over a third of heartbeat-timeout %s; using %s",
            interval, timeout, timeout / 3,
        )
        return timeout / 3
    return interval


MAINTENANCE = Maintenance()
POOL.when_done = MAINTENANCE.claim_soon  # a thread that ends a job: the next one queued elsewhere, at once
