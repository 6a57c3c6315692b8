"""Records made directly in the registry, many at once: done ones, their results shown, or failed.

A list's tests need more processes than jobs could run in a test's time:
these go through the registry's own writes (``add``, ``change_in``,
``take``) in the test's database, as the jobs' records do.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.replay import CapturedResponse

import time


STEP = 0.001  # seconds between two records' creation: their ids sort as they were made
_newest = [0.0]  # the creation time of the last record made here
INSTANCE = "elsewhere"  # the instance that ran them (they ended: its heartbeat does not matter)


def captured(body=b"done"):
    return CapturedResponse(200, "OK", {"content-type": "text/plain"}, [], {}, body)


ENDINGS = {
    registry.DONE: lambda r: r.start(r.instance) and r.finish(captured()),
    registry.FAILED: lambda r: r.start(r.instance) and r.fail("ValueError: no such row"),
}


def made(db, site, owner, count, state=registry.DONE, view="hello", shown=False):
    """``count`` records of ``owner`` (a user id) in ``site`` (its path), ended
    now in ``state`` (DONE or FAILED), the first made now (or ``STEP``
    after the last one made before) and each next ``STEP`` later; their
    results shown once (``registry.take``) if ``shown``. Their ids, oldest first."""
    now = max(time.time(), _newest[0] + STEP)
    _newest[0] = now + (count - 1) * STEP
    ids = [registry.new_process_id(now + number * STEP) for number in range(count)]

    def write(root):
        for number, process_id in enumerate(ids):
            record = registry.ProcessRecord(process_id, view, site, owner, None, site)
            record.created = now + number * STEP
            registry.add(root._p_jar, record, INSTANCE, number)
            assert registry.change_in(root, process_id, ENDINGS[state]), state
        return ids

    registry.in_own_transaction(db, write)
    if shown:
        for process_id in ids:
            assert registry.take(db, process_id) is not None
    return ids
