"""The cancels asked of this instance's running jobs, known in memory: checked without a ZODB load.

``is_cancelled`` and ``set_progress`` ask here, however often a job calls
them. A cancel asked on this instance is noted at once (``ask_to_cancel``);
one asked on another instance is learned by the maintenance thread every
``cancel-interval`` while this instance runs jobs (``learn_cancels``: a
read, never a write), or by the job's next progress write.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.pool import POOL

import transaction


_cancels = set()  # ids of this instance's processes asked to stop


def ask_to_cancel(process_id):
    """Note here that ``process_id`` was asked to stop.

    Only for a job that this instance runs: the others are no business of
    this memory.
    """
    if POOL.running(process_id):
        _cancels.add(process_id)


def cancel_asked(process_id):
    """Whether ``process_id``, a job of this instance, was asked to stop."""
    return process_id in _cancels


def forget(process_id):
    """The job ended: its cancel is no longer noted."""
    _cancels.discard(process_id)


def learn_cancels(db):
    """Note the cancels asked on other instances of the jobs this pool runs
    (a read, never a write); how many it learned of.

    The maintenance thread calls it every ``cancel-interval`` while this
    instance has jobs, so that ``is_cancelled`` and ``set_progress`` see
    such a cancel within that interval, and stay free of ZODB loads. A
    connection opened anew reads what the other instances committed (ZEO
    pushes their invalidations; RelStorage polls); the records read are
    loaded again only when they changed.
    """
    iid = instance_id()

    def read(connection):
        learned = 0
        for pid in registry.active_of(connection.root(), iid):
            if cancel_asked(pid) or not POOL.running(pid):
                continue
            record = registry.find(connection, pid)
            if record is not None and record.cancel_requested:
                ask_to_cancel(pid)
                learned += 1
        return learned

    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        manager.begin()
        return read(connection)
    finally:
        manager.abort()
        connection.close()
