"""Processes that never started or are retried, made directly for the lists' tests: a retry chain, a scheduled and a cancelled job.

``made`` writes, in a transaction of its own and through the registry's
own writes (``schedule``, ``add``, ``change_in``), what a user's walk
through ``fibonacci-later`` leaves: a job scheduled 15 minutes ahead with
a title, one cancelled while it was scheduled, and a failed first attempt
of three whose second attempt is scheduled 10 minutes ahead.
"""

from datetime import datetime

from netsight.asynchronous import registry

import time


INSTANCE = "elsewhere"  # the instance that ran the failed attempt (it ended: its heartbeat does not matter)
TITLE = "Computing F(2000)"


def made(db, site, owner):
    """The records of ``owner`` (a user id) in ``site`` (its path): ``{"scheduled", "cancelled", "failed",
    "retry": process id}`` and ``{"scheduled", "retry": when it may start}``."""
    now = time.time()
    names = ("failed", "retry", "cancelled", "scheduled")  # oldest first
    ids = {name: registry.new_process_id(now - 1 + number * 0.01) for number, name in enumerate(names)}
    due = {"scheduled": now + 900, "retry": now + 600}

    def new(name):
        record = registry.ProcessRecord(ids[name], "later", site, owner, None, site)
        record.created = now - 1 + names.index(name) * 0.01
        return record

    def write(root):
        failed = new("failed")
        failed.attempt, failed.max_attempts, failed.retried_by = 1, 3, ids["retry"]
        registry.add(root._p_jar, failed, INSTANCE, 1)
        assert registry.change_in(root, ids["failed"], lambda r: r.start(INSTANCE) and r.fail("ValueError: try later"))
        retry = new("retry")
        retry.attempt, retry.max_attempts, retry.retry_of = 2, 3, ids["failed"]
        assert retry.schedule(due["retry"])
        registry.add(root._p_jar, retry, registry.UNCLAIMED, 0)
        cancelled = new("cancelled")
        assert cancelled.schedule(now + 900)
        registry.add(root._p_jar, cancelled, registry.UNCLAIMED, 0)
        assert registry.change_in(root, ids["cancelled"], lambda r: r.request_cancel())
        scheduled = new("scheduled")
        assert scheduled.schedule(due["scheduled"])
        registry.add(root._p_jar, scheduled, registry.UNCLAIMED, 0, title=TITLE)

    registry.in_own_transaction(db, write)
    return ids, due


def at(when):
    """How a list says a time today ("04:27"), or another day's ("2026-12-07 00:02")."""
    moment = datetime.fromtimestamp(when)
    return moment.strftime("%H:%M") if moment.date() == datetime.now().date() else moment.strftime("%Y-%m-%d %H:%M")

