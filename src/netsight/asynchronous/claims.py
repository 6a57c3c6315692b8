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
for an instance that serves theirs. The claim reads the claimed jobs'
stored requests in its own transaction, and commits through the instance's
one writer (``groupcommit.py``), with the ends of jobs that wait to be
written at the same moment.
"""

from itertools import islice
from transaction.interfaces import TransientError

from netsight.asynchronous import queues
from netsight.asynchronous import registry
from netsight.asynchronous import retries
from netsight.asynchronous.groupcommit import GROUP_COMMIT
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.instanceid import next_ticket
from netsight.asynchronous.limits import JobLimits
from netsight.asynchronous.maintenance import heartbeat_interval
from netsight.asynchronous.pool import AHEAD
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.worker import Job

import logging
import time


logger = logging.getLogger("netsight.async")


def claim_queued(db, ahead=None):
    """Claim as many unclaimed jobs as the pool has room for and run them; how many.

    While more jobs wait than it would take with ``ahead`` more (``pool.AHEAD``
    by default) to wait in its queue, it takes those too: a thread that ends
    a job then takes the next at once. While fewer wait, it takes only what
    it can start now, and leaves the others to another worker that may be
    idle; an instance that serves some queues only counts the jobs of
    those. With no thread free, it claims ahead only once no more than half
    of ``ahead`` wait in its queue (``Pool.claim_room``): a claim for several
    jobs, not one for every job that ends. The claimed jobs' stored requests
    are read in the claim's own transaction (one transaction, not two),
    committed by the instance's one writer (``groupcommit.py``). The claim
    writes this instance's heartbeat too when it is due (older than a
    ``heartbeat-interval``, never written, or saying other queues), so that
    a job it just took never reads as the job of a dead instance; a burst's
    claims then write it once an interval, not with every claim (the
    maintenance thread beats within an interval of a claim:
    ``Maintenance._claim``).
    """
    now, most = POOL.claim_room(AHEAD if ahead is None else ahead)
    if not most:
        return 0
    iid, served = instance_id(), queues.served()
    made = []  # the jobs of the attempt under way: their bodies closed if it does not commit

    def take(root):
        _discard(made)  # an attempt before this one did not commit
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
            chosen.append(record)
            taking.append(limits)
        # After the walk: a claim changes the index that it walks.
        taken = [
            record for record in chosen
            if registry.change_in(root, record.process_id, lambda r: r.assign_to(iid, next_ticket()))
        ]
        if not taken:
            return []
        registry.purge_claimed(root)
        if _beat_due(root, iid, served):
            registry.beat_in(root, iid, queues=served)
        for record in taken:
            job = _job(root, record, db, iid)
            if job is not None:
                made.append(job)
        return list(made)

    try:
        jobs = GROUP_COMMIT.write(db, take)  # after the writes of the moment, or with them
    except BaseException:
        _discard(made)
        raise
    for job in jobs:
        POOL.submit(job)
    if jobs:
        logger.debug("netsight.async: %d queued jobs claimed", len(jobs))
    return len(jobs)


def _beat_due(root, iid, served):
    """Whether this instance's heartbeat is older than a ``heartbeat-interval``
    (or was never written), or says other queues than ``served``: a claim
    then writes it (a read of one small object, loaded again only when it
    changed)."""
    beat = (registry.index(root, registry.INSTANCES_KEY) or {}).get(iid)
    if beat is None or time.time() - beat.beat >= heartbeat_interval():
        return True
    return beat.queues != (None if served is None else tuple(sorted(served)))


def _job(root, record, db, iid):
    """The Job of a record just claimed in the transaction of ``root``; None
    if its request is not stored. A stored request that cannot be read
    fails its process in the same transaction (the others go on); a
    conflict is the transaction's (retried)."""
    try:
        return Job.from_record(record, db)
    except TransientError:
        raise
    except Exception as exc:
        logger.exception("netsight.async: could not take process %s", record.process_id)
        error = f"it could not be taken: {type(exc).__name__}: {exc}"
        registry.change_in(
            root, record.process_id,
            lambda r: r.is_run(iid) and r.fail(error) and retries.without_automatic_retry(r),
        )
        return None


def _discard(jobs):
    """Close the bodies of jobs made in an attempt that did not commit."""
    for job in jobs:
        job.discard()
    jobs.clear()
