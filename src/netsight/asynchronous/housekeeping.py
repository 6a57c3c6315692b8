"""Housekeeping: marks the jobs of dead instances and those past their time limit, forgets ended processes, drops kept results.

A pass runs in the background (the maintenance thread of each instance,
every ``housekeeping-interval`` seconds), never in a poll: polls derive
what they show from the heartbeats. Every change is a short transaction
of its own, retried on conflict, and a change that no longer applies (a
record another instance marked or removed first) changes nothing, so
several instances may run passes at the same time.
"""

from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous import timelimits

import logging
import time


logger = logging.getLogger("netsight.async")

BATCH = 100
FAULTS_KEPT = 86400.0  # seconds a gone instance's record stays to show its last maintenance error (faults.py)


def run(db, this_instance, now=None, deadline=None):
    """One pass: returns ``(interrupted, removed)``, the numbers of records changed.

    The running jobs past their time limit and its grace are marked timed
    out first (``timelimits.time_out_overdue``; counted with the interrupted).
    Expiry stops at ``deadline`` (a ``time.monotonic()``), to go on at the
    next pass: the heartbeat of this instance waits meanwhile.
    """
    now = time.time() if now is None else now
    timed_out = timelimits.time_out_overdue(db, now)
    return timed_out + mark_dead(db, this_instance, now), expire(db, now, deadline)


def mark_dead(db, this_instance, now):
    """Mark ``interrupted`` the active processes of instances that stopped or
    died (or queue them again for any instance, if they may run again)."""
    timeout = settings.get("heartbeat-timeout")

    def dead_instances(root):
        beats = registry.instances(root)
        # Instances with active jobs but no heartbeat record (one that died
        # before its first beat) are candidates too; effective_state decides.
        candidates = set(beats) | registry.active_instances(root)
        return [
            iid
            for iid in candidates
            if iid != this_instance
            and (iid not in beats or beats[iid].stopped or now - beats[iid].beat > timeout)
        ]

    def interrupt_stale(root, iid):
        connection = root._p_jar
        marked = 0
        for pid in registry.active_of(root, iid):
            record = registry.find(connection, pid)
            if record is not None and registry.orphaned(connection, record, timeout, now):
                reason = registry.STOPPED_REASON if registry.is_stopped(root, iid) else registry.DEAD_REASON
                if registry.change_in(root, pid, lambda r: r.interrupt(reason)):
                    marked += 1
        beat = registry.instances(root).get(iid)
        failed_lately = beat is not None and beat.last_error is not None and now - beat.last_error < FAULTS_KEPT
        if not registry.active_of(root, iid) and not failed_lately:  # its last error stays for the control panel
            registry.forget_instance(root, iid)
        return marked

    marked = 0
    for iid in registry.in_own_transaction(db, dead_instances):
        marked += registry.in_own_transaction(db, lambda root: interrupt_stale(root, iid))
    if marked:
        logger.info("netsight.async housekeeping: %d processes of stopped instances interrupted or queued again", marked)
    return marked


def expire(db, now, deadline=None):
    """Forget the processes that ended more than ``expiry`` seconds ago
    (the expiry of their site when they started, if it set one, else this
    instance's), whether their result was never fetched or shown once (a
    record without its result, kept to say so), their blobs with them; and
    drop the kept results whose time is over (``keep_result`` seconds after
    they were first shown, at most their expiry): the result and its blob
    go, the record stays, as a one-shot's, to tell its owner until its expiry."""
    removed = 0
    for index_key, before in (
        (registry.ENDED_KEY, now - settings.instance_value("expiry")),
        (registry.EXPIRES_KEY, now),
    ):

        def remove_batch(root, index_key=index_key, before=before):
            return registry.forget_expired(root, index_key, before, BATCH)

        while not _past(deadline) and (count := registry.in_own_transaction(db, remove_batch)):
            removed += count
            if count < BATCH:
                break
    if removed:
        logger.info("netsight.async housekeeping: %d ended processes expired or kept results dropped", removed)
    return removed


def _past(deadline):
    return deadline is not None and time.monotonic() > deadline
