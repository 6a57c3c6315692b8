"""Retries: a failed, interrupted or timed-out process run again with the request it kept, as a new process linked to it.

The **Retry** button (issue 27, point 5; ``BaseAsyncView.may_retry``): its
owner or a manager of its site runs it again now (``Processes.retry``).
``next_attempt`` takes a ``run_after`` for automatic retries (point 5b,
``retry_on``/``max_retries``), which are not wired yet: ``max_attempts``
stays 1 unless a view declares them.

Each attempt is a process of its own (``retry_of`` names the one before,
``retried_by`` the one after, ``attempt`` counts them): docs/states.rst
says why. A retry runs with the request the first attempt kept (its
``StoredRequest``, without credentials), as the same user.
"""

from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.instanceid import next_ticket
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.pool import POOL

import logging
import time


logger = logging.getLogger("netsight.async")

#: What a retry copies of the attempt before it: where and how it runs.
COPIED = (
    "expiry",
    "form_values",
    "time_limit",
    "priority",
    "max_per_user",
    "pool_size",
    "max_reruns",
    "retryable",
    "max_attempts",
    "title",
)

def may_retry(view):
    """Whether ``view`` lets a process of it be retried by a button: its ``may_retry``, an attribute or a method (False by default)."""
    allowed = getattr(view, "may_retry", False)
    if callable(allowed):
        allowed = allowed()
    return bool(allowed)


def max_retries(view):
    """How many automatic retries ``view`` allows (``max_retries``, at least 0)."""
    try:
        return max(0, int(getattr(view, "max_retries", 0) or 0))
    except (TypeError, ValueError):
        return 0


def keep_for_retry(view, record):
    """At a start: note on ``record`` whether a Retry button may run it again and how many automatic attempts it has;
    True if its request must then outlive a failure."""
    retries = max_retries(view) if getattr(view, "retry_on", ()) else 0
    record.max_attempts = 1 + retries
    record.retryable = may_retry(view)
    return record.retryable or retries > 0


def may_be_retried(record, button=True):
    """Whether ``record`` may be retried now: it ended failed, interrupted or timed out, kept its request, was not retried
    yet, and (``button``) its view allowed a Retry button at its start."""
    return (
        record.state in registry.RETRY_FROM
        and record.retry_request is not None
        and record.retried_by is None
        and (record.retryable or not button)
    )


def next_attempt(root, record, run_after=None, button=True, instance=registry.UNCLAIMED, ticket=None):
    """Add, in the transaction of ``root``, the next attempt of the ended ``record``: a new process, its ``retry_of``,
    queued for ``instance`` (by default any instance with a pool, which claims it) or scheduled at ``run_after`` (a
    time.time()), for any. Its request moves to the new one.

    :returns: the new process's id, or None if ``record`` may not be retried (``may_be_retried``).
    """
    if not may_be_retried(record, button):
        return None
    new = registry.ProcessRecord(
        registry.new_process_id(),
        view_name=record.view_name,
        context_path=record.context_path,
        owner=record.owner,
        anonymous_key=record.anonymous_key,
        site=record.site,
    )
    for name in COPIED:
        if name in record.__dict__:
            setattr(new, name, getattr(record, name))
    new.retry_of = record.process_id
    new.attempt = record.attempt + 1
    new.request = record.retry_request
    record.retry_request = None  # it goes with the new attempt
    record.retried_by = new.process_id
    if run_after is not None and run_after > time.time() and hasattr(new, "schedule"):
        new.schedule(run_after)  # scheduled: a worker queues it at its time (scheduling)
        instance, ticket = registry.UNCLAIMED, None
    registry.add(root._p_jar, new, instance=instance, ticket=ticket)
    return new.process_id


def retry_now(db, process_id):
    """The Retry button's work: the next attempt, in a transaction of its own; its id, or None if there is none to retry.

    An instance with a pool runs it itself, as a start would (its pool's queue); a front-end leaves it queued in
    the database for a worker instance to claim.
    """
    runs_here = settings.get("job-threads") > 0
    iid = instance_id() if runs_here else registry.UNCLAIMED

    def retry(root):
        record = registry.find(root._p_jar, process_id)
        if record is None:
            return None
        return next_attempt(root, record, instance=iid, ticket=next_ticket() if runs_here else None)

    new_id = registry.in_own_transaction(db, retry)
    if new_id is not None and runs_here:
        _run_here(db, new_id)
    return new_id


def _run_here(db, process_id):
    """Hand the committed attempt ``process_id`` to this instance's pool, as a start does once it committed."""
    from netsight.asynchronous.worker import Job  # worker.py calls this module when a job failed

    try:
        job = registry.in_own_transaction(db, lambda root: Job.from_record(registry.find(root._p_jar, process_id), db))
        MAINTENANCE.watch(db)
        POOL.submit(job)
    except Exception:
        logger.exception("Could not queue the retry %s", process_id)
        registry.change(db, process_id, lambda record: record.fail("the worker could not be started"))
