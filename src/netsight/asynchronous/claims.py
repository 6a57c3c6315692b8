"""Instances with a pool take the jobs queued in the database: those of front-ends, and those to run again.

A job started on an instance without a pool (``pool-size 0``), or queued
again after its instance stopped (``rerun_interrupted``), waits in the
database, unclaimed, with its request (``stored.py``). The maintenance
thread of every instance with room in its pool looks for such jobs every
``claim-interval`` (a read; nothing is written while there are none) and
claims the oldest in a short transaction: of two instances claiming the
same job, one commits and the other meets a ConflictError, reads the job
claimed on its retry, and leaves it. A claimed job runs as one started
here. A job that its owner's or its site's cap (or, for an anonymous
visitor's, its address's or the share of all anonymous jobs) would hold back here is
left for later (or another instance): a claimed job that could only wait
would keep the jobs of others from the free threads.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.anonymous import record_address
from netsight.asynchronous.instance import instance_id
from netsight.asynchronous.instance import next_ticket
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.worker import Job

import logging


logger = logging.getLogger("netsight.async")


def claim(db):
    """Claim as many unclaimed jobs as the pool has room for and run them; how many.

    The claim writes this instance's heartbeat too, so that a job it just
    took never reads as the job of a dead instance.
    """
    room = POOL.room()
    if not room:
        return 0
    iid = instance_id()

    def take(root):
        taken, taking = [], []
        for record in registry.unclaimed(root):
            if len(taken) == room:
                break
            owner, address = registry.owner_key(record), record_address(record)
            if not POOL.admits(owner, record.max_per_user, record.site, record.pool_size, taking, address):
                continue
            if registry.change_in(root, record.process_id, lambda r: r.claim(iid, next_ticket())):
                taken.append(record.process_id)
                taking.append((owner, record.site, address))
        if taken:
            registry.beat_in(root, iid)
        return taken

    started = 0
    for process_id in registry.in_own_transaction(db, take):
        try:
            job = registry.in_own_transaction(db, lambda root, pid=process_id: _job(root, pid, db))
        except Exception as exc:  # its stored request cannot be read: it fails, the others go on
            logger.exception("netsight.async: could not take process %s", process_id)
            _give_up(db, process_id, iid, f"it could not be taken: {type(exc).__name__}: {exc}")
            continue
        if job is None:
            continue  # cancelled meanwhile
        POOL.submit(job)
        started += 1
    if started:
        logger.debug("netsight.async: %d queued jobs claimed", started)
    return started


def _job(root, process_id, db):
    record = registry.find(root._p_jar, process_id)
    if record is None or record.state != registry.QUEUED:
        return None
    return Job.from_record(record, db)


def _give_up(db, process_id, iid, error):
    try:
        registry.change(db, process_id, lambda record: record.is_run(iid) and record.fail(error))
    except Exception:
        logger.exception("netsight.async: could not record the failure of process %s", process_id)
