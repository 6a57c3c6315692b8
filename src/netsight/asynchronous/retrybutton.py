"""The Retry button's work: the next attempt of an ended process, let in by a start's caps, run here or left for a worker.

``Processes.retry`` (the process page's button, the lists' and the REST
API's) calls ``retry_now``; the rules of what may be retried and what a
retry keeps are ``retries.py``'s, below it.
"""

from netsight.asynchronous import anonymous
from netsight.asynchronous import queues
from netsight.asynchronous import registry
from netsight.asynchronous import retries
from netsight.asynchronous import settings
from netsight.asynchronous.exceptions import QueueFullError
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.instanceid import next_ticket
from netsight.asynchronous.limits import StartSettings
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.worker import Job

import logging


logger = logging.getLogger("netsight.async")


class KeyHeld(Exception):
    """A Retry of an only-once job (``dedupe_key``) while another process holds its key: ``process_id`` is that one."""

    def __init__(self, process_id):
        super().__init__(process_id)
        self.process_id = process_id


def retry_now(db, process_id, request=None):
    """The Retry button's work: the next attempt, in a transaction of its own; its id, or None if there is none to retry.

    An instance with a pool runs it itself, as a start would (its pool's queue); a front-end leaves it queued in
    the database for a worker instance to claim. As a start (``BaseAsyncView._begin``): an only-once job whose
    key another process holds is not run again (``KeyHeld``, that process's id); with ``request`` (the button's,
    the lists', the REST API's), the caps of a start apply (``_admit``: ``queue-limit``, and for an anonymous
    visitor's process ``max-per-address`` and ``anonymous-queue-limit``), and a retry beyond them raises
    ``QueueFullError`` (503, ``Retry-After`` set on its response). Either way nothing is written.
    """
    runs_here = settings.get("job-threads") > 0
    iid = instance_id() if runs_here else registry.UNCLAIMED

    here = []  # whether this instance runs it: it has a pool and serves the job's queue (queues.py)

    def retry(root):
        record = registry.find(root._p_jar, process_id)
        if record is None or not retries.may_be_retried(record):
            return None
        if record.retry_dedupe is not None:  # only once: a process of its key that waits or runs answers instead
            held = registry.holder(root._p_jar, record.retry_dedupe, settings.get("heartbeat-timeout"))
            if held is not None:
                raise KeyHeld(held.process_id)
        here[:] = [runs_here and queues.serves(record.queue)]
        admit = None if request is None else (lambda new, key: _admit(request, root._p_jar, new, key, here[0]))
        return retries.next_attempt(
            root, record, instance=iid if here[0] else registry.UNCLAIMED, ticket=next_ticket() if here[0] else None, admit=admit,
        )

    new_id = registry.in_own_transaction(db, retry)
    if new_id is not None and here[0]:
        _run_here(db, new_id)
    return new_id


def _admit(request, connection, new, key, runs_here):
    """A Retry button's caps, as a start's (``BaseAsyncView._begin``): ``queue-limit`` where ``new`` would wait,
    then, for an anonymous visitor's process, its address's (``key``: the one its first attempt kept, whoever
    clicks; the requester's own address for a record that kept none) and all visitors' share; ``QueueFullError``
    beyond them. Returns the address key ``new`` counts under (None for a user's), held (``addresses.hold``)."""
    start = StartSettings.read()
    if start.queue_limit:  # as ``view._check_queue``, for the process's owner (a Manager may press the button)
        capped_site = new.site if start.site_job_threads else None
        waiting = POOL.waiting(registry.owner_key(new), capped_site) if runs_here else registry.waiting_in(connection.root(), new.queue)
        if waiting >= start.queue_limit:
            request.response.setHeader("Retry-After", str(QueueFullError.retry_after))
            raise QueueFullError(f"Too many processes are waiting to start ({waiting}); try again later.")
    if new.owner is not None:
        return None
    if not key:
        key = anonymous.address_key(anonymous.client_address(request), connection.db(), connection.root())
    return anonymous.check_address(request, connection, key, runs_here, new.process_id, new.queue)


def _run_here(db, process_id):
    """Hand the committed attempt ``process_id`` to this instance's pool, as a start does once it committed."""
    try:
        job = registry.in_own_transaction(db, lambda root: Job.from_record(registry.find(root._p_jar, process_id), db))
        MAINTENANCE.watch(db)
        POOL.submit(job)
    except Exception:
        logger.exception("Could not queue the retry %s", process_id)
        registry.change(db, process_id, lambda record: record.fail("the worker could not be started") and retries.without_automatic_retry(record))
