"""Instances with a pool take the jobs queued in the database: those of front-ends, and those to run again.

A job started on an instance without a pool (``pool-size 0``), or queued
again after its instance stopped (``rerun_interrupted``), waits in the
database, unclaimed, with its request (``stored.py``). The maintenance
thread of every instance with room in its pool claims such jobs as soon as
one is queued (it watches their count), as soon as one of its threads ends
a job, and every ``claim-interval`` (a safety net); a look is a read, and
nothing is written while there are none. It claims the oldest in a short
transaction, a few beyond its free threads while many wait: of two
instances claiming the same job, one commits and the other meets a
ConflictError, reads the job claimed on its retry, and takes the next. A
claimed job runs as one started here. A job that its owner's or its site's cap (or, for an anonymous
visitor's, its address's or the share of all anonymous jobs) would hold back here is
left for later (or another instance): a claimed job that could only wait
would keep the jobs of others from the free threads. It takes only jobs of
the queues it serves (its ``queues`` setting, queues.py): the others wait
for an instance that serves theirs.
"""

from itertools import islice

from netsight.asynchronous import queues
from netsight.asynchronous import registry
from netsight.asynchronous import retries
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.instanceid import next_ticket
from netsight.asynchronous.limits import JobLimits
from netsight.asynchronous.pool import AHEAD
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.pool import REFILL
from netsight.asynchronous.worker import Job

import logging


logger = logging.getLogger("netsight.async")


def claim_queued(db, ahead=None):
    """Claim as many unclaimed jobs as the pool has room for and run them; how many.

    While more jobs wait than it would take with ``ahead`` more (``pool.AHEAD``
    by default) to wait in its queue, it takes those too: a thread that ends
    a job then takes the next at once. With no thread free, it claims only
    once ``pool.REFILL`` places ahead are free: one claim for several jobs.
    While fewer wait, it takes only what it can start now, and leaves the
    others to another worker that may be idle; an instance that serves
    some queues only counts the jobs of those. The claim writes this instance's heartbeat too, so that a job it
    just took never reads as the job of a dead instance.
    """
    ahead = AHEAD if ahead is None else ahead
    now, most = POOL.room(), POOL.room(ahead=ahead)
    if not most or (not now and most < min(REFILL, ahead)):  # a thread free, or room for several ahead
        return 0
    iid, served = instance_id(), queues.served()

    def take(root):
        if served is None:  # every queue: the count says how many wait
            waiting, _serial = registry.unclaimed_count(root)
        else:  # some queues: how many of theirs wait, read as far as it matters
            waiting = sum(1 for _record in islice(registry.unclaimed(root, served), most + 1))
        room = most if waiting > most else now
        chosen, taking = [], []
        for record in registry.unclaimed(root, served):  # lazily, oldest first, of its queues: it stops at ``room``
            if len(chosen) >= room:
                break
            limits = JobLimits.of_record(record)
            if not POOL.admits(limits, taking):
                continue
            chosen.append(record.process_id)
            taking.append(limits)
        # After the walk: a claim changes the index that it walks.
        taken = [pid for pid in chosen if registry.change_in(root, pid, lambda r: r.assign_to(iid, next_ticket()))]
        if taken:
            registry.purge_claimed(root)
            registry.beat_in(root, iid, queues=served)
        return taken

    taken = registry.in_own_transaction(db, take)
    if not taken:
        return 0
    # A read: it need not wait for the worker's writes (``WRITER``).
    jobs = registry.in_own_transaction(db, lambda root: _jobs(root, taken, db, iid), alone=False)
    started = 0
    for job in jobs:
        if job is None:
            continue  # cancelled meanwhile, or it could not be taken (failed)
        POOL.submit(job)
        started += 1
    if started:
        logger.debug("netsight.async: %d queued jobs claimed", started)
    return started


def _jobs(root, process_ids, db, iid):
    """The Jobs of the records just claimed (``_job``), their stored requests
    asked of the storage at once first: a ZEO client loads them in parallel,
    not one round trip after another as each job is made (what a front-end
    stored, this instance has not read yet)."""
    connection = root._p_jar
    try:
        records = [registry.find(connection, pid) for pid in process_ids]
        connection.prefetch([record.request for record in records if record is not None and record.request is not None])
    except Exception:  # only a head start: each job's own read below says what went wrong
        logger.debug("netsight.async: the claimed jobs' requests could not be fetched ahead", exc_info=True)
    return [_job(root, pid, db, iid) for pid in process_ids]


def _job(root, process_id, db, iid):
    """The Job of a claimed record; None if it was cancelled meanwhile, or
    if its stored request cannot be read (it fails, the others go on)."""
    try:
        record = registry.find(root._p_jar, process_id)
        if record is None or record.state != registry.QUEUED:
            return None
        return Job.from_record(record, db)
    except Exception as exc:
        logger.exception("netsight.async: could not take process %s", process_id)
        _give_up(db, process_id, iid, f"it could not be taken: {type(exc).__name__}: {exc}")
        return None


def _give_up(db, process_id, iid, error):
    try:
        registry.change(db, process_id, lambda record: record.is_run(iid) and record.fail(error) and retries.without_automatic_retry(record))
    except Exception:
        logger.exception("netsight.async: could not record the failure of process %s", process_id)
