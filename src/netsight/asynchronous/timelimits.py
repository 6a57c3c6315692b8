"""Time limits: a view's ``time_limit``, the deadline of each job this instance runs, and the overdue ones given up.

A job whose view sets ``time_limit`` (seconds) keeps it in its record at
the start. While it runs here, its deadline (its record's ``started`` plus
the limit) is known in memory (``begin``, ``end``), so that ``set_progress``
and ``is_cancelled`` see it at no cost (``past``): past it, the job stops
there as if cancelled, and its record ends *timed out*
(``ProcessRecord.cancelled``). A job that never reports is given up by
housekeeping (``time_out_overdue``) once its limit and ``GRACE`` are over:
its record ends timed out, and whatever its thread ends with later is
discarded (Python cannot kill a thread: it is left to end).
"""

from netsight.asynchronous import registry

from numbers import Real

import logging
import threading
import time
import transaction


logger = logging.getLogger("netsight.async")

# Seconds past its time limit after which housekeeping gives up a running job that did not stop.
GRACE = 30.0
BATCH = 100  # records given up in one transaction at most

_deadlines = {}  # process id -> time.time() past which the job stops
_lock = threading.Lock()


def limit_of(view):
    """The view's ``time_limit`` as seconds (a float), or None: no limit."""
    limit = view.time_limit
    if limit is None:
        return None
    if not isinstance(limit, Real) or isinstance(limit, bool) or not limit > 0:
        raise ValueError(f"time_limit must be a number of seconds over 0, or None, not {limit!r}")
    return float(limit)


def begin(process_id, record):
    """The job of ``record`` runs here from now on: its deadline, if it has a limit, is known."""
    if record is None or record.time_limit is None:
        return
    started = record.started if record.started is not None else time.time()
    with _lock:
        _deadlines[process_id] = started + record.time_limit


def past(process_id, now=None):
    """Whether the job ``process_id``, run here, is past its deadline (cheap: no ZODB load)."""
    deadline = _deadlines.get(process_id)
    return deadline is not None and (time.time() if now is None else now) > deadline


def limited(process_id):
    """Whether the job ``process_id``, run here, has a time limit."""
    return process_id in _deadlines


def given_up(db, process_id):
    """Whether housekeeping gave the job ``process_id`` up (its record reads timed
    out): a read of what is committed now, on a connection of its own (the
    job's transaction sees the record as it was when it began)."""
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        manager.begin()
        record = registry.find(connection, process_id)
        return record is not None and record.state == registry.TIMED_OUT
    finally:
        manager.abort()
        connection.close()


def end(process_id):
    """The job's run here ended: its deadline is forgotten."""
    with _lock:
        _deadlines.pop(process_id, None)


def time_out_overdue(db, now=None, grace=GRACE):
    """Mark timed out the running jobs, of any instance, past their time limit and
    ``grace``; returns how many. A record that ended or was marked meanwhile
    (by another instance's pass, or its own job) changes nothing: each change
    is a short transaction, retried on conflict, that checks the record again."""
    now = time.time() if now is None else now

    def overdue(root):
        connection = root._p_jar
        found = []
        for pid in registry.active_ids(root):
            record = registry.find(connection, pid)
            if record is not None and record.past_time_limit(now, grace):
                found.append(pid)
        return found

    def give_up(root, pids):
        return sum(1 for pid in pids if registry.change_in(root, pid, lambda r: r.time_out(now, grace)))

    pids = registry.in_own_transaction(db, overdue)
    marked = 0
    for start in range(0, len(pids), BATCH):
        batch = pids[start : start + BATCH]
        marked += registry.in_own_transaction(db, lambda root, batch=batch: give_up(root, batch))
    if marked:
        logger.warning(
            "netsight.async housekeeping: %d running processes past their time limit marked timed out "
            "(their threads are left to end; what they end with is discarded)",
            marked,
        )
    return marked
