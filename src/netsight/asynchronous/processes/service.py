"""``Processes``: the one home of a process: find it, say who sees it, read its status, cancel, show, remove it."""

from netsight.asynchronous import connections
from netsight.asynchronous import owners
from netsight.asynchronous import registry
from netsight.asynchronous import retries
from netsight.asynchronous import retrybutton
from netsight.asynchronous import settings
from netsight.asynchronous.cancels import ask_to_cancel
from netsight.asynchronous.listing import ANY as ANY_QUEUE
from netsight.asynchronous.listing import is_gone
from netsight.asynchronous.listing import Listing
from netsight.asynchronous.listing import newest_of_owner
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.processes.outcomes import CancelOutcome
from netsight.asynchronous.processes.outcomes import RemoveOutcome
from netsight.asynchronous.processes.outcomes import RetryOutcome
from netsight.asynchronous.processes.state import ProcessState
from netsight.asynchronous.processes.status import ProcessStatus

import logging
import re
import time
import weakref


logger = logging.getLogger("netsight.async")
PROCESS_ID = re.compile(r"[0-9a-f]{32}")


def is_process_id(value):
    """Whether ``value`` is written as a process id (32 lowercase hex digits); says nothing of whether it exists."""
    return isinstance(value, str) and PROCESS_ID.fullmatch(value) is not None


#: How long this process keeps what the heartbeats say of the default queue (``_serves_default``), in seconds:
#: a poll of a job of the default queue waiting in the database reads them at most once in this time per
#: database, not at each poll (a front-end's polls of a backlog cost what they did).
DEFAULT_SERVED_SECONDS = 2.0
_default_served = weakref.WeakKeyDictionary()  # database -> (until, whether a live instance serves the default queue)


def _serves_default(connection, timeout):
    """Whether a live instance serves the default queue (``registry.serving``), as read at most
    ``DEFAULT_SERVED_SECONDS`` ago through a connection of ``connection``'s database; a read."""
    db, now = connection.db(), time.monotonic()
    known = _default_served.get(db)
    if known is not None and known[0] > now:
        return known[1]
    served = registry.serving(connection.root(), None, timeout)
    _default_served[db] = (now + DEFAULT_SERVED_SECONDS, served)
    return served


class Processes:
    """The processes of the main database, as one request sees them.

    :param request: the request on whose behalf they are read: it decides
        who asks (``may_see``), and its connections are closed with it.
    :param connection: the main database's connection to read through;
        default: the Zope application's of ``request``.

    Reading never writes; each change (``cancel``, ``take_result``,
    ``remove``) runs in a short transaction of its own, committed before it
    returns. A record's state and status are computed once per record for
    the service's life (one request).
    """

    def __init__(self, request, connection=None):
        self.request = request
        self._connection = connection
        self._fresh = None
        self._timeout = None
        self._states = {}  # id(record) -> (record, ProcessState)
        self._statuses = {}  # id(record) -> (record, ProcessStatus)
        self._managed = {}  # site path -> whether the requester manages it

    # Where it reads.

    @property
    def connection(self):
        """The connection it reads through: a fresh one after ``read_anew`` or a catch-up, else the given one, else the application's."""
        if self._fresh is not None:
            return self._fresh
        if self._connection is None:
            self._connection = connections.app_connection(self.request)
        return self._connection

    def read_anew(self):
        """From now on, read through a new connection, which sees what was committed meanwhile (closed with the request).

        :returns: the new connection.
        """
        self._fresh = connections.new_connection(self.request, self.connection.db())
        return self._fresh

    # Finding a process.

    def find(self, process_id):
        """The record of ``process_id``, whoever may see it; None if there is none.

        On a storage with a server (ZEO, RelStorage), a record that another
        instance committed a moment ago may not have reached this one yet
        (invalidations arrive asynchronously): once per service, an unknown
        id is looked up again after a round trip to the server, through a
        new connection that then serves the rest of the request.
        """
        if not is_process_id(process_id):
            return None
        record = registry.find(self.connection, process_id)
        if record is None and self._fresh is None:
            self._fresh = connections.caught_up(self.request, self.connection)
            if self._fresh is not None:
                record = registry.find(self._fresh, process_id)
        return record

    def visible(self, process_id, *, view_name=None, context_path=None, site=None, shown=True):
        """The record of ``process_id`` if the requester may see it, else None.

        :param view_name: if given, only a process that this view started.
        :param context_path: if given, only one started on the object of that path.
        :param site: if given, only one of the site of that path.
        :param shown: False: a done process whose result was shown and is gone reads as unknown too.
        :returns: the record, or None: an unknown id, an expired process,
            another view's, context's or site's, or one that is neither the
            requester's nor of a site they manage; all alike.
        """
        record = self.find(process_id)
        if (
            record is None
            or self.expired(record)
            or (view_name is not None and record.view_name != view_name)
            or (context_path is not None and record.context_path != context_path)
            or (site is not None and record.site != site)
            or (not shown and record.result_gone())
            or not self.may_see(record)
        ):
            return None
        return record

    # Who may see it.

    def may_see(self, record):
        """Whether the requester may see and act on the process: its owner, or a manager of its site."""
        return self.owns(record) or self.manages(record.site)

    def owns(self, record):
        """Whether the requester owns the process: its user, or the anonymous browser holding its secret."""
        return owners.owns(record, self.request)

    def manages(self, site):
        """Whether the requester manages the Plone site at path ``site`` ("": the Zope root) (``owners.is_manager``)."""
        if site not in self._managed:
            self._managed[site] = owners.is_manager(self.request, site)
        return self._managed[site]

    # What it reads as.

    def state(self, record):
        """What the process reads as now (``ProcessState``): a job whose instance stopped or died reads interrupted, or queued if it runs again."""
        known = self._states.get(id(record))
        if known is None:
            state = registry.effective_state(self.connection, record, self._heartbeat_timeout())
            known = self._states[id(record)] = (record, ProcessState(state))
        return known[1]

    def status(self, record):
        """The process's status now, a frozen ``ProcessStatus`` (made once per record)."""
        known = self._statuses.get(id(record))
        if known is None:
            known = self._statuses[id(record)] = (record, self._snapshot(record))
        return known[1]

    def expired(self, record, now=None):
        """Whether an ended process was kept longer than its expiry: it reads as gone (housekeeping removes it)."""
        if record.finished is None:
            return False
        return (time.time() if now is None else now) - record.finished > expiry_of(record)

    def listed(self, record, now=None):
        """Whether a list shows the record to its owner: not removed meanwhile, not expired, its result not shown and gone."""
        return not (is_gone(record) or self.expired(record, now) or record.result_gone(now))

    def listing(self, site, state=None, owner=None, queue=ANY_QUEUE):
        """The records of the site at path ``site``, newest first, read lazily (a ``listing.Listing``).

        :param state: only those whose stored state this is.
        :param owner: only those of this owner key (``owners.caller_key``).
        :param queue: only those of this queue (a name; None: the default one).
        """
        return Listing(self.connection, site, state, owner, queue)

    def newest_owned(self, site, owner, since):
        """The records of ``owner`` (an owner key) in the site at path ``site``
        created after ``since`` (seconds since the epoch), newest first, read lazily."""
        return newest_of_owner(self.connection, site, owner, since)

    # Changes, each in a transaction of its own.

    def cancel(self, process_id):
        """Cancel a process: a queued one at once (it never runs, and leaves this
        instance's queue), a running one at its next report or check.

        Whoever may is decided before (``visible``).

        :returns: a ``CancelOutcome``.
        """
        record = registry.find(self.connection, process_id)
        changed = registry.change(self.connection.db(), process_id, registry.ProcessRecord.request_cancel)
        ask_to_cancel(process_id)  # a job running here stops at its next report, without reading its record
        POOL.withdraw(process_id)  # if it waits in this instance's queue, it leaves it now
        if changed is None:
            return CancelOutcome.UNKNOWN
        if not changed:
            return CancelOutcome.ENDED
        if record is not None and record.state == registry.RUNNING:
            return CancelOutcome.ASKED
        return CancelOutcome.CANCELLED

    def take_result(self, record, keep_for=0, now=None):
        """The result of a done process, to be sent; None if another request took it meanwhile.

        :param keep_for: seconds for which its owner may see it again
            (at most until the process's expiry); 0: it is shown once, and goes.
        :returns: the stored response (``replay.CapturedResponse``), or None.
        """
        now = time.time() if now is None else now
        keep_until = None if keep_for <= 0 else min(now + keep_for, record.finished + expiry_of(record))
        _fetch_blob(record)
        return registry.take(self.connection.db(), record.process_id, keep_until, now)

    def remove(self, process_id, owner=None):
        """Forget an ended process (its result with it).

        :param owner: an owner key (``owners.caller_key``): only a process of that owner.
        :returns: a ``RemoveOutcome``.
        """
        timeout = self._heartbeat_timeout()
        removed = registry.in_own_transaction(
            self.connection.db(), lambda root: registry.remove_ended(root, process_id, timeout, owner=owner)
        )
        return {True: RemoveOutcome.REMOVED, False: RemoveOutcome.ACTIVE}.get(removed, RemoveOutcome.UNKNOWN)

    def retry(self, process_id):
        """Run an ended process again with the request it kept, as a new process linked to it (retrybutton.py).

        Whoever may is decided before (``visible``, and the view's ``may_retry``). As a start: the caps of a
        start apply (``retrybutton.retry_now``), and one beyond them raises ``QueueFullError`` (503, with
        ``Retry-After``); an only-once job whose key another process holds is not run again.

        :returns: ``(RetryOutcome, the new process's id, or the holder's for ALREADY_RUNNING, or None)``.
        """
        if registry.find(self.connection, process_id) is None:
            return RetryOutcome.UNKNOWN, None
        try:
            new_id = retrybutton.retry_now(self.connection.db(), process_id, self.request)
        except retrybutton.KeyHeld as held:
            return RetryOutcome.ALREADY_RUNNING, held.process_id
        if new_id is None:
            return RetryOutcome.NOT_RETRYABLE, None
        return RetryOutcome.RETRIED, new_id

    # Internals.

    def _heartbeat_timeout(self):
        if self._timeout is None:
            self._timeout = settings.get("heartbeat-timeout")
        return self._timeout

    def _snapshot(self, record):
        state = self.state(record)
        position, served = None, True
        if state == ProcessState.QUEUED:
            position = registry.queue_position(self.connection, record) or 0
            if record.instance == registry.UNCLAIMED and record.queue is not None:  # a named queue's, in the database: served? (a read)
                served = registry.serving(self.connection.root(), record.queue, self._heartbeat_timeout())
            elif record.instance == registry.UNCLAIMED:  # the default queue's: served? (read at most once in DEFAULT_SERVED_SECONDS)
                served = _serves_default(self.connection, self._heartbeat_timeout())
        return ProcessStatus(
            process_id=record.process_id,
            state=state,
            stored_state=record.state,
            view_name=record.view_name,
            context_path=record.context_path,
            site=record.site,
            owner=record.owner,
            owner_key=registry.owner_key(record),
            title=record.title,
            progress=record.progress,
            message=record.message,
            error=record.error,
            created=record.created,
            started=record.started,
            finished=record.finished,
            queue_position=position,
            reruns=record.reruns,
            cancel_requested=bool(record.cancel_requested),
            instance=record.instance,
            result_gone=record.result_gone(),
            keep_until=record.keep_until,
            context_url=self.request.physicalPathToURL(record.context_path),
            as_of=time.time(),
            scheduled_for=record.run_after if state == ProcessState.SCHEDULED else None,
            due=record.run_after,
            priority=record.priority,
            attempt=record.attempt,
            max_attempts=record.max_attempts,
            retry_of=record.retry_of,
            retried_by=record.retried_by,
            retryable=retries.may_be_retried(record),
            next_attempt_at=self._next_attempt_at(record, state),
            queue=record.queue,
            queue_served=served,
        )

    def _next_attempt_at(self, record, state):
        """When the attempt that retries the ended ``record`` is due, while it is scheduled (a read); else None."""
        if record.retried_by is None or not state.is_finished:
            return None
        successor = registry.find(self.connection, record.retried_by)
        if successor is None or successor.state != registry.SCHEDULED:
            return None
        return successor.run_after


def expiry_of(record):
    """How long an ended process is kept: its site's expiry when it started, else the instance's."""
    return record.expiry if record.expiry is not None else settings.instance_value("expiry")


def _fetch_blob(record):
    """Bring a big result's blob into this instance's blob cache, on the request's own connection.

    ``registry.take`` opens it while it holds the instance's turn to write
    (``transactions.WRITER``); on a ZEO client without a shared blob
    directory, or on RelStorage, opening a blob not yet cached downloads it
    whole, and every job end, claim and start of the instance would wait
    for that. Read here first, it is only opened there. A blob that cannot
    be read now is left to ``take``, which says so.
    """
    result = record.result
    blob = None if result is None else result.blob
    if blob is None:
        return
    try:
        blob.committed()
    except Exception:
        logger.debug("netsight.async: the blob of process %s was not fetched before its take", record.process_id, exc_info=True)
