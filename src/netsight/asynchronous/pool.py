"""The pool: at most ``job-threads`` jobs run at once in this instance, the others wait.

Who runs a job, never what it is: a job is any object with ``process_id``,
``limits`` (a ``limits.JobLimits``: whose it is, its site, its anonymous
address, and the caps its site set at its start), ``run()`` and
``discard()``. Queued jobs wait in arrival order in memory (a higher
``priority`` of their limits first, aged: ``scheduling.rank``), holding no
thread and no ZODB connection; a thread that ends a job takes the next
one, so the instance has at most ``job-threads`` worker threads, whatever
the number of jobs; each end is told to ``when_done`` (the maintenance
thread, which then claims a job queued elsewhere). With ``max-per-user``
(its site's, else the instance's), a job whose owner already has that many
running waits while jobs of others go ahead; so does a job whose site has
its share of the threads (``site-job-threads``) running, a job whose queue
has its threads (``queues exports:2``, queues.py) running, an anonymous job
while ``anonymous-pool-size`` anonymous jobs run (all visitors' together),
and one whose address has ``max-per-address`` running.
"""

from collections import Counter
from collections import deque

from netsight.asynchronous import queues
from netsight.asynchronous import settings
from netsight.asynchronous.transactions import one_writer_for_this_thread

import logging
import threading


logger = logging.getLogger("netsight.async")

THREAD_PREFIX = "netsight.async-"
# Jobs queued elsewhere that an instance claims beyond its free threads, to
# wait in its queue (claims.py): a thread that ends a job takes the next at
# once; taken only while more than that wait (claims.py), so that an idle
# worker still finds jobs when few wait. Eight: a claim (and its heartbeat)
# for some ten jobs of a burst rather than two or three. The jobs started ahead
# (worker.DEPTH a thread, at most, about) take none of these places: in a burst
# an instance holds up to job-threads * (1 + DEPTH) + AHEAD jobs (18 with two threads).
AHEAD = 8
# A claim ahead (no thread free) waits until this many places ahead are
# free: one claim for several jobs of a burst, not one at each job's end
# (a front-end's worker committed a claim for nearly every job it ran).
REFILL = AHEAD // 2


class Pool:
    """The jobs of this instance: running (each in a thread) and queued."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queue = deque()
        self._prioritized = 0  # how many queued jobs have a priority other than 0
        self._queued_ids = Counter()  # the queued jobs' process ids (``holds``: asked for each active record at each heartbeat)
        self._running = {}  # process id -> job
        self._threads = 0
        self.when_done = None  # called (no argument, no lock held) each time a job ends: room for another
        self._ahead = deque()  # jobs taken to run next (take_next), started or being started, in order
        self._ending = Counter()  # process ids of the jobs whose end is being written behind (end_behind)
        self._local = threading.local()  # in a pool thread: the job it runs

    def submit(self, job):
        """Run ``job`` when there is room; in arrival order."""
        with self._lock:
            self._queue.append(job)
            self._queued_ids[job.process_id] += 1
            self._prioritized += bool(job.limits.priority)
            unstarted = self._dispatch()
        _discard_unstarted(unstarted)

    def withdraw(self, process_id):
        """Take a queued job out of the queue (cancelled); True if it was there."""
        with self._lock:
            if process_id not in self._queued_ids:
                return False
            job = next(job for job in self._queue if job.process_id == process_id)
            self._take_out(job)
        job.discard()
        return True

    def running(self, process_id):
        """Whether this pool runs ``process_id`` now."""
        with self._lock:
            return process_id in self._running

    def holds(self, process_id):
        """Whether this pool runs ``process_id`` (or writes its end: ``end_behind``) or has it in its queue."""
        with self._lock:
            return process_id in self._running or process_id in self._queued_ids or process_id in self._ending

    def room(self, ahead=0):
        """How many more jobs this pool would start now (0 without a pool):
        its free threads, less the queued jobs that wait for one (not those
        that wait for their owner's or site's cap); with ``ahead``, as many
        more to wait for a thread (a claim's, taken ahead) in its queue: the
        jobs started ahead (``started_ahead``) do not take those places, or
        a burst's claims would keep the queue nearly empty behind them."""
        size = settings.get("job-threads")
        if size <= 0:
            return 0
        with self._lock:
            free = size + ahead - len(self._running) + (len(self._ahead) if ahead else 0)
            held = self._held_test()
            for job in self._queue:  # it stops once the waiting jobs fill the room: a long queue costs no more
                if free <= 0:
                    break
                if not held(job):
                    free -= 1
            return max(0, free)

    def admits(self, limits, taking=()):
        """Whether a job of ``limits`` (a ``JobLimits``) would start here now
        under its caps, with the jobs running and queued here and ``taking``,
        the limits of jobs about to be submitted (a claim's)."""
        with self._lock:
            others = [job.limits.place for job in (*self._running.values(), *self._queue)]
        return not _over_cap(limits, [*others, *(other.place for other in taking)], InstanceCaps.read())

    def anonymous_queued(self):
        """How many anonymous jobs wait in the queue (held by a cap or not)."""
        with self._lock:
            return sum(1 for job in self._queue if job.limits.address is not None)

    def waiting(self, owner, site=None):
        """How many queued jobs a new job of ``owner`` would wait behind: 0
        if it would start at once; with a thread free, only its owner's own,
        and its site's if ``site`` (a site that caps its jobs) is given (the
        others wait for their owners' or sites' cap, not for a thread)."""
        with self._lock:
            if len(self._running) < settings.get("job-threads"):  # a thread is free
                return sum(
                    1 for job in self._queue if job.limits.owner == owner or (site is not None and job.limits.site == site)
                )
            return len(self._queue)

    def has_jobs(self):
        """Whether this pool runs or queues any job (the maintenance thread looks for cancels then)."""
        with self._lock:
            return bool(self._queue or self._running)

    def counts(self):
        """``(running, queued, threads)``, for tests and benchmarks; running
        counts the jobs whose end is being written behind (``end_behind``)."""
        with self._lock:
            return len(self._running.keys() | self._ending.keys()), len(self._queue), self._threads

    def take_next(self, fits, ending):
        """In the pool thread that runs ``ending``, about to end: a job to run
        next, taken now from the queue (None if none may start, or the first
        that may does not ``fits``, a predicate; None in any other thread),
        for ``run_next``. The worker writes its start in the transaction of
        the ending job's end (one commit for both); it counts as running
        from now on."""
        if getattr(self._local, "job", None) is not ending:
            return None
        with self._lock:
            if self._threads > settings.get("job-threads"):
                return None
            return self._next(ending=ending, fits=fits)

    def run_next(self, jobs):
        """Run ``jobs`` (taken by ``take_next``) on the first pool threads that
        end their jobs, in order (or on a new thread, if the pool has room);
        till then they are started ahead (``started_ahead``). The worker hands
        them over once they know how their start is written (``worker._write_end``)."""
        with self._lock:
            self._ahead.extend(jobs)
            unstarted = self._dispatch()
        _discard_unstarted(unstarted)

    def started_ahead(self, ending):
        """In the pool thread that runs ``ending``, about to end: how many jobs,
        taken by ``take_next``, wait for a pool thread, each started or its
        start about to be written with a job's end (0 in any other thread)."""
        if getattr(self._local, "job", None) is not ending:
            return 0
        with self._lock:
            return len(self._ahead)

    def end_behind(self, process_id):
        """The job ``process_id``, which ends in this thread, has its end
        written behind (``behind.py``): it stays held (``holds``, ``counts``)
        until the function returned is called, once that end is written."""
        with self._lock:
            self._ending[process_id] += 1

        def written():
            with self._lock:
                self._ending[process_id] -= 1
                if not self._ending[process_id]:
                    del self._ending[process_id]

        return written

    def _dispatch(self):
        """Start threads for queued jobs while there is room (the lock is held);
        the jobs whose thread could not be started, for the caller to discard
        once it released the lock (``_discard_unstarted``)."""
        size, unstarted = settings.get("job-threads"), []
        while self._threads < size:
            job = self._ahead.popleft() if self._ahead else self._next()
            if job is None:
                break
            self._threads += 1
            try:
                threading.Thread(target=self._work, args=(job,), name=THREAD_PREFIX + job.process_id, daemon=True).start()
            except Exception:
                self._threads -= 1
                del self._running[job.process_id]
                logger.exception("Could not start a worker thread for process %s", job.process_id)
                unstarted.append(job)
        return unstarted

    def _next(self, ending=None, fits=None):
        """The first queued job whose owner and site are under their caps (the lock is held):
        where a job of another priority than 0 waits, the one of the lowest rank (``JobLimits.rank``:
        a higher priority first, aged by its wait, equal ones in arrival order);
        ``ending``, a running job about to end, is not counted; a first such
        job that does not ``fits`` is left where it is (None).

        A job's owner cap is its own (``max_per_user`` of its limits: as its
        site read it when it started), else this instance's ``max-per-user``;
        its site's is ``site_job_threads`` (none if None).
        """
        held = self._held_test(ending)
        free = (job for job in self._queue if not held(job))
        if self._prioritized:  # a higher (aged) priority first, else in arrival order
            job = min(free, key=lambda queued: queued.limits.rank, default=None)
        else:
            job = next(free, None)
        if job is None or (fits is not None and not fits(job)):
            return None
        self._take_out(job)
        self._running[job.process_id] = job
        return job

    def _take_out(self, job):
        """Take ``job`` out of the queue (the lock is held)."""
        self._queue.remove(job)
        self._queued_ids[job.process_id] -= 1
        if not self._queued_ids[job.process_id]:
            del self._queued_ids[job.process_id]
        self._prioritized -= bool(job.limits.priority)

    def _held_test(self, ending=None):
        """``held(job)``: whether a queued job waits for a cap (its owner's, its site's, its
        queue's, its address's), not for a thread, with the jobs running now
        but ``ending`` (the lock is held). The running jobs and the caps are read
        once, for a scan of the whole queue."""
        places = [other.limits.place for other in self._running.values() if other is not ending]
        caps = InstanceCaps.read()
        return lambda job: _over_cap(job.limits, places, caps)

    def _work(self, job):
        one_writer_for_this_thread()
        local = self._local
        while job is not None:
            threading.current_thread().name = THREAD_PREFIX + job.process_id
            local.job = job
            try:
                job.run()
            except BaseException:  # run() records its own failures; never lose the thread's count
                logger.exception("Process %s: the worker failed", job.process_id)
            local.job = None
            with self._lock:
                del self._running[job.process_id]
                if self._ahead:  # started: it runs whatever the thread count
                    job = self._ahead.popleft()
                else:
                    job = self._next() if self._threads <= settings.get("job-threads") else None
                unstarted = []
                if job is None:
                    self._threads -= 1
                    unstarted = self._dispatch()
            _discard_unstarted(unstarted)
            self._done()

    def _done(self):
        """A job ended: tell ``when_done`` (the maintenance thread claims the next job queued elsewhere)."""
        hook = self.when_done
        if hook is not None:
            try:
                hook()
            except Exception:  # the thread goes on to its next job whatever the hook does
                logger.exception("netsight.async: the pool's when_done failed")


def _discard_unstarted(jobs):
    """Fail the jobs whose thread could not be started; called with the
    pool's lock released, as every database write of the pool: a pool
    thread's write waits for the worker's one writer (``transactions.WRITER``),
    whose holder may be a claim that asks the pool for room."""
    for job in jobs:
        job.discard("the worker could not be started")


class InstanceCaps:
    """This instance's caps on the jobs it runs at once, read from its settings once
    for a look at the queue (each job of a long queue would read them again)."""

    __slots__ = ("max_per_user", "max_per_address", "anonymous_pool_size", "_queues")

    def __init__(self, max_per_user, max_per_address, anonymous_pool_size, queue_caps):
        self.max_per_user = max_per_user
        self.max_per_address = max_per_address
        self.anonymous_pool_size = anonymous_pool_size
        self._queues = queue_caps  # a queue's name -> its cap (``queues exports:2``)

    @classmethod
    def read(cls):
        """The caps as the settings give them now (zope.conf, the environment)."""
        return cls(
            settings.instance_value("max-per-user"),
            settings.instance_value("max-per-address"),
            settings.instance_value("anonymous-pool-size"),
            queues.caps(),
        )

    def of_queue(self, queue):
        """The cap of ``queue`` (a record's: None is the default queue); None: no cap of its own."""
        return self._queues.get(queues.name_of(queue))


def _over_cap(limits, others, caps):
    """Whether ``others`` (the ``(owner, site, address, queue)`` of jobs) take all the
    places of the owner of a job of ``limits`` (its ``max_per_user``; None:
    this instance's ``max-per-user``; 0: no cap) or of its site (its
    ``site_job_threads``; None: no cap) or of its queue (``queues exports:2``;
    None: no cap); or, for an anonymous job (an address, not None), of its
    address (``max-per-address``) or of all anonymous jobs
    (``anonymous-pool-size``). ``caps``: this instance's (``InstanceCaps``)."""
    owner, site, address, queue = limits.place
    site_cap = limits.site_job_threads
    cap = caps.max_per_user if limits.max_per_user is None else limits.max_per_user
    if cap and sum(1 for other, _site_of, _address_of, _queue_of in others if other == owner) >= cap:
        return True
    if site_cap and sum(1 for _owner, site_of, _address_of, _queue_of in others if site_of == site) >= site_cap:
        return True
    queue_cap = caps.of_queue(queue)
    if queue_cap and sum(1 for _owner, _site_of, _address_of, queue_of in others if queue_of == queue) >= queue_cap:
        return True
    if address is None:
        return False
    per_address = caps.max_per_address
    if per_address and sum(1 for _owner, _site_of, address_of, _queue_of in others if address_of == address) >= per_address:
        return True
    share = caps.anonymous_pool_size
    return bool(share) and sum(1 for _owner, _site_of, address_of, _queue_of in others if address_of is not None) >= share


POOL = Pool()
