"""The process registry: one persistent record per process, in the ZODB.

The records live in the main database, under one key of its root
(``ROOT_KEY``: a ``storage.ProcessStore``; not in any Zope folder, so
nothing on the web can reach them), keyed by process id, so that every
Zope instance sharing the database (ZEO, RelStorage) answers for every
process. Beside them, in the same store: the active (queued and running)
processes of each instance (for a queued job's position, and for marking
those of a stopped or dead instance), the jobs queued for any instance to
claim and their count, the ended processes by end time (for expiry), for
the lists of processes, those of each site (the Plone site a process was
started in) that ended, by state and counted, and all by owner; and each
instance's heartbeat. Process ids are UUIDv7 (RFC 9562, ``ids.py``): they
begin with their creation time, so that a new record goes to the last
bucket of the records' BTree, which the instance has loaded already,
however many records there are; and a list reads newest first by walking
the keys backwards. Concurrent writers touch different keys (the random
part of an id, an end time), which BTrees' conflict resolution merges.

The functions take one of three handles, by who owns the transaction:

- **a connection** (``find``, ``effective_state``, ``orphaned``,
  ``queue_position``, ``add``): the caller's, usually the request's. A read
  sees what that request sees and never writes; ``add`` writes in the
  request's own transaction, so that the record and the start commit (or
  abort) together.
- **a database** (``change``, ``take``): the write runs in a short
  transaction of its own, on a connection of its own, retried on
  ConflictError (``transactions.in_own_transaction``): a job's state and
  progress, the fetch of a result, never waiting for (nor committing) the
  half-done work of a job or a request.
- **a root** (``change_in``, ``beat_in``, ``remove``, ``remove_ended``,
  ``forget_expired``, ``remove_site``, ``prepare``, ...): the root of a
  connection whose transaction the caller runs, for several writes that
  commit together: a maintenance pass inside ``in_own_transaction``, a
  Manager's removal in the request's transaction, a site's uninstall.

The process service (``processes``) hides the three behind one object.
"""

from netsight.asynchronous import addresses
from netsight.asynchronous import storage
from netsight.asynchronous.ids import new_process_id  # noqa: F401 (the registry's name of before)
from netsight.asynchronous.queues import DEFAULT as DEFAULT_QUEUE
from netsight.asynchronous.queues import name_of as queue_name
from netsight.asynchronous.scheduling import rank
from netsight.asynchronous.storage import ProcessStore
from netsight.asynchronous.transactions import ATTEMPTS  # noqa: F401 (the registry's name of before)
from netsight.asynchronous.transactions import BACKOFF  # noqa: F401 (the registry's name of before)
from netsight.asynchronous.transactions import in_own_transaction
from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from numbers import Real
from persistent import Persistent

import heapq
import logging
import time


logger = logging.getLogger("netsight.async")

# The registry's one key in the main database's root: its ``storage.ProcessStore``,
# which reads as the mapping of process ids to records (``root[ROOT_KEY][process_id]``).
ROOT_KEY = storage.ROOT_KEY
# The records and their indexes, by their attribute of the store (``index(root, ACTIVE_KEY)``).
# Before the store (2.0's development versions, profile 1008 and before), each was a key
# of the root: ``storage.KEYS_BEFORE``; ``prepare`` moves them.
RECORDS_KEY = "records"  # process id -> ProcessRecord
ACTIVE_KEY = "active"  # (instance id, process id) -> True
ENDED_KEY = "ended"  # (end time, process id) -> True, kept for the instance's expiry
EXPIRES_KEY = "expires"  # (expiry time, process id) -> True, kept for its site's expiry
INSTANCES_KEY = "instances"  # instance id -> InstanceRecord
# The lists' indexes: a record's site is the path of the Plone site it was
# started in ("" outside any); they are rebuilt when LISTS_VERSION changes.
# The active processes are few: the lists find them in ACTIVE_KEY; the
# ended ones, which may be many, by site and state here, counted.
STATES_KEY = "states"  # (site, ended state, process id) -> True; (site, SHOWN, id) too
COUNTS_KEY = "counts"  # (site, ended state) -> Length
OWNERS_KEY = "owners"  # (site, owner key, created, process id) -> True
LISTS_VERSION_KEY = "lists_version"  # the version of the lists' indexes (an int, not an index)
# How many jobs wait unclaimed: a Length, whose concurrent changes merge
# (two front-ends' starts never conflict on it). A worker watches it to
# claim a job as soon as its start is committed (claims.py, instance.py).
UNCLAIMED_COUNT_KEY = "unclaimed_count"
UNCLAIMED_KEY = "unclaimed"  # process id -> True: the jobs queued for any instance (see below)
# Only once (a view's ``dedupe_key``): (site, scope, owner key or "", key) -> the id of the
# queued or running process that holds it. Written in the start's transaction (``add``), so that
# two simultaneous starts of one key conflict (the same key inserted twice) and the retried one
# finds it; it goes when the process ends or is removed (``_index``, ``_remove``).
DEDUPE_KEY = "dedupe"
# Start later (a view's ``run_after``): (time, process id) -> True, the scheduled processes by the
# time they are due. Due, a process is queued for any instance (``queue_due``: the first
# maintenance pass of any instance that claims jobs, in a transaction that changes its record:
# of two instances, one commits, the other's retry finds it queued).
SCHEDULED_KEY = "scheduled"
# Priorities (a view's ``priority``): (rank, process id) -> True, the unclaimed jobs of a priority
# other than 0, beside the unclaimed index of those of priority 0 (whose order is their ids');
# ``unclaimed`` merges both by rank (``scheduling.rank``: the start time, less ``scheduling.AGING``
# seconds per step of priority). An entry goes when its job is claimed, cancelled or removed.
PRIORITIZED_KEY = "prioritized"
# Named queues (a view's ``queue``, queues.py): (queue, rank, process id) -> True, the unclaimed jobs
# of a queue other than the default one, whatever their priority, by queue and rank, so that an
# instance serving some queues walks only theirs (``unclaimed``); the default queue's stay in the
# unclaimed and prioritized indexes. An entry goes when its job is claimed, cancelled or removed.
ROUTED_KEY = "routed"
# How many entries the routed index holds: a Length (concurrent changes merge), so that the default
# queue's waiting jobs are the unclaimed count less it (``waiting_in``) without a walk of the others.
ROUTED_COUNT_KEY = "routed_count"
LISTS_VERSION = storage.LISTS_VERSION
OLD_LISTS_KEYS = storage.OLD_LISTS_KEYS  # indexes of versions before, removed
# Every key of the root that the add-on writes: the store, with the anonymous visitors'
# addresses and the mails pending in it; it goes once no process is left (``remove_all``);
# before a first start, nothing is written.
ROOT_KEYS = (ROOT_KEY,)
# The store's attributes that hold a BTree, all made with the store by the first process (``add``).
TREE_KEYS = ProcessStore.TREES
# What writes the main database's root or the store, which every start
# reads current (``add``): the first start (the store, with every tree and
# the anonymous visitors' HMAC key), ``remove_all``, ``prepare`` (the move
# of the root keys before the store, and ``reindex_lists`` when
# LISTS_VERSION changes). A start meets a ConflictError only with one of
# these, each once in a registry's life, and Zope's retry starts it again.
UNCLAIMED = ""  # the "instance" of a queued job that any instance with a pool may take
# UNCLAIMED_KEY: the jobs queued for any instance (``UNCLAIMED``), in an index of their own
# beside the active one: process id -> True. The front-ends' starts add
# after its last entry; no claim writes it: a claim that wrote the bucket a
# start was splitting (a claim's or a job end's entry of a worker beside
# the unclaimed ones in one index, or an unclaimed entry it removed) made
# the start's commit conflict. The entries of jobs no longer unclaimed go
# in bulk, before the first unclaimed job, once there are
# ``PURGE_AT_LEAST`` (``purge_claimed``), the last kept: the bucket that
# the starts add to is never emptied. A registry of a version before it
# had them in the active index: ``prepare`` moves them.
PURGE_AT_LEAST = 128
# A key that never goes, first in the active index: its bucket is never
# emptied, since a BTree cannot merge a change that empties a bucket with
# another that adds to it (every start and every end writes this index).
SENTINEL = ("", "")

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
TIMED_OUT = "timed_out"  # it ran past its view's time_limit and was stopped (or given up)
SCHEDULED = "scheduled"  # it waits for its time (its view's run_after) in the database, then is queued
ACTIVE = frozenset({SCHEDULED, QUEUED, RUNNING})  # not ended: it holds its owner's caps, a cancel ends it
# The states of the active and unclaimed indexes: a scheduled process waits in the scheduled index.
QUEUED_OR_RUNNING = frozenset({QUEUED, RUNNING})
# Not a state: where the states index keeps a done record whose result was
# shown and is gone (``drop_result``). No list, owner's index nor count
# has it any more; its record stays until its expiry only to tell its
# owner so (410), and this entry finds it when its site is removed.
SHOWN = "shown"

# Why a process was interrupted (its ``error``, for Managers).
STOPPED_REASON = "the server was stopped before the process completed"
DEAD_REASON = "its instance stopped answering (no heartbeat) before the process completed"
TIMED_OUT_REASON = "it ran past its time limit without reporting; its thread is left to end, its result is discarded"
ENDED = frozenset({DONE, FAILED, CANCELLED, INTERRUPTED, TIMED_OUT})
RETRY_FROM = frozenset({FAILED, INTERRUPTED, TIMED_OUT})  # the ends that a retry may run again (retries.py)
STATES = (SCHEDULED, QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED, TIMED_OUT)


class ProcessRecord(Persistent):
    """What is known of one process; its methods are the only state changes.

    A method that does not apply to the record's state changes nothing and
    returns False (a job that was cancelled or interrupted meanwhile does
    not become running or done).
    """

    progress = None
    message = None
    anonymous_key = None
    started = None
    finished = None
    error = None
    result = None
    instance = None  # the id of the instance that queued or runs it
    ticket = None  # its place in that instance's queue
    cancel_requested = False
    request = None  # its StoredRequest, while another instance may have to run it
    run = 0  # how many times it started: a worker's writes apply to its own run only
    reruns = 0  # how many times it was queued again after its instance stopped
    max_reruns = 0  # how many times it may be (its view's max_reruns if rerun_interrupted)
    max_per_user = None  # max-per-user as its site read it at the start (None: the instance's)
    expiry = None  # the expiry its site set when it started (None: the instance's)
    pool_size = None  # how many of its site's jobs may run at once in an instance, as its site set it
    address_key = None  # an anonymous visitor's: its client address, hashed (anonymous.py), while active
    title = None  # what its pages call the job (jobtitle.py): text or an i18n message; None: its view's default
    form_values = ()  # the values its start posted, (name, text) pairs (formvalues.py): "Back to the form"
    time_limit = None  # seconds it may run (its view's time_limit); None: no limit
    dedupe = None  # its entry of the only-once index (DEDUPE_KEY), while it holds one
    run_after = None  # when it may start (a time.time(); its view's run_after), if it was scheduled
    priority = 0  # its view's priority, -100 to 100: a higher one starts first (``rank``)
    queue = None  # its view's queue (queues.py): None, the default queue (and every record before queues)
    retryable = False  # its view allows a Retry button (may_retry): its request outlives a failure
    retry_request = None  # its StoredRequest, kept once it failed, was interrupted or timed out, for its retry
    retry_dedupe = None  # its only-once entry (``dedupe``), kept with ``retry_request``: its retry takes it over
    retry_address_key = None  # its ``address_key``, kept with ``retry_request``: its retry counts under it
    retry_of = None  # the id of the process it retries (retries.py); None: a first attempt
    retried_by = None  # the id of the process that retries it, once retried
    attempt = 1  # which attempt it is: 1, then 2 for its first retry...
    max_attempts = 1  # how many its view allows in all (1 + max_retries) for automatic retries

    site = ""  # the path of the Plone site it was started in; "" outside any (and before 2.0)
    taken = None  # when its result was first shown (``take``)
    keep_until = None  # a kept result's end: shown again until then (``take`` with ``keep_until``)

    def __init__(self, process_id, view_name, context_path, owner, anonymous_key=None, site=""):
        self.process_id = process_id
        self.view_name = view_name
        self.context_path = context_path
        self.site = site
        self.owner = owner  # a user id, or None for an anonymous browser
        self.anonymous_key = anonymous_key  # that browser's secret, hashed
        self.state = QUEUED
        self.created = time.time()

    def assign_to(self, instance, ticket):
        """An unclaimed queued process becomes ``instance``'s, ``ticket`` its
        place in that instance's queue (still queued); False if it is not unclaimed."""
        if self.state != QUEUED or self.instance != UNCLAIMED:
            return False
        self.instance = instance
        self.ticket = ticket
        return True

    def schedule(self, run_after):
        """A new queued process waits until ``run_after`` (a time.time()) in the database, unclaimed (before ``add``)."""
        if self.state != QUEUED:
            return False
        self.run_after = run_after
        self.state = SCHEDULED
        self.instance = UNCLAIMED
        return True

    def due(self):
        """scheduled -> queued for any instance: its time came (``queue_due``)."""
        if self.state != SCHEDULED:
            return False
        self.state = QUEUED
        self.instance = UNCLAIMED
        return True

    def may_rerun(self):
        """Whether, its instance gone, it is queued again rather than interrupted."""
        return self.request is not None and self.reruns < self.max_reruns

    def start(self, instance):
        """queued -> running, on ``instance`` (the one that queued or claimed it).

        Returns the number of this run (true), or False.
        """
        if self.state != QUEUED or self.instance != instance:
            return False
        self.state = RUNNING
        self.started = time.time()
        self.run += 1
        return self.run

    def begins_late(self, instance, run):
        """A job started ahead (``worker._write_end``) begins only now: if it is
        still run ``run`` on ``instance`` and running, its start time is now
        (its time limit's clock); one asked to stop meanwhile ends cancelled.
        Returns whether it runs."""
        if self.state != RUNNING or not self.is_run(instance, run):
            return False
        if self.cancel_requested:
            return not self._end(CANCELLED)
        self.started = time.time()
        return True

    def is_run(self, instance, run=None):
        """Whether the record is still ``instance``'s (and its run ``run``): a
        worker of a run that was given up (its instance read dead, the job
        queued again) changes nothing."""
        return self.instance == instance and (run is None or self.run == run)

    def report(self, progress, message=None):
        if self.state not in ACTIVE:
            return False
        self.progress = progress
        if message is not None:
            self.message = message
        return True

    def finish(self, response, blob=None):
        """running -> done: ``__run__`` returned and its transaction committed.

        ``response`` is what it answered; ``blob`` holds its body when that
        is too big to keep inline.
        """
        if self.state != RUNNING:
            return False
        self.progress = 100 if is_number(self.progress) else True
        self.result = ProcessResult(response, blob)
        return self._end(DONE)

    def fail(self, error):
        """queued or running -> failed; cancelled if a cancel was asked (it failed before it saw it): never retried."""
        if self.state not in ACTIVE:
            return False
        self.error = error  # kept for Managers, cancelled too
        if self.cancel_requested:  # it was asked to stop: it stopped, as an interrupted one would (``interrupt``)
            return self._end(CANCELLED)
        return self._end(FAILED)

    def request_cancel(self):
        """A scheduled or queued process is cancelled at once; a running one is asked to stop."""
        if self.state in (SCHEDULED, QUEUED):
            return self._end(CANCELLED)
        if self.state == RUNNING:
            self.cancel_requested = True
            return True
        return False

    def cancelled(self, now=None):
        """running -> cancelled: the job stopped as it was asked to; timed out
        if nobody asked and it ran past its time limit (``past_time_limit``)."""
        if self.state != RUNNING:
            return False
        if not self.cancel_requested and self.past_time_limit(now):
            return self._end(TIMED_OUT)
        return self._end(CANCELLED)

    def past_time_limit(self, now=None, grace=0.0):
        """Whether it runs and ran for more than its time limit (and ``grace`` seconds)."""
        if self.state != RUNNING or self.time_limit is None or self.started is None:
            return False
        return (time.time() if now is None else now) > self.started + self.time_limit + grace

    def time_out(self, now=None, grace=0.0):
        """running -> timed out, given up by housekeeping: it ran past its time
        limit and ``grace`` without stopping (a thread cannot be killed:
        whatever it ends with is discarded, its record being no longer running)."""
        if not self.past_time_limit(now, grace):
            return False
        self.error = TIMED_OUT_REASON
        return self._end(TIMED_OUT)

    def interrupt(self, reason):
        """Its instance stopped or died: queued again for any instance if it
        may run again (``may_rerun``), else queued or running -> interrupted."""
        if self.state not in ACTIVE:
            return False
        if self.cancel_requested:  # it was asked to stop: it stays stopped
            return self._end(CANCELLED)
        if self.may_rerun():
            self.state = QUEUED
            self.instance = UNCLAIMED
            self.reruns += 1
            self.started = None
            self.progress = None
            self.message = None
            self.error = reason  # why it started again, for Managers
            return True
        self.error = reason
        return self._end(INTERRUPTED)

    def result_gone(self, now=None):
        """Whether its result was shown and is gone: a one-shot one taken, or
        a kept one past its time. Its record stays, without it, until its
        expiry, so that its owner is told so (no secret is kept: the
        response and its blob went, or go at the next housekeeping)."""
        if self.state != DONE:
            return False
        return self.result is None or (
            self.keep_until is not None and (time.time() if now is None else now) > self.keep_until
        )

    def result_waits(self):
        """Whether it is done and its result was never shown (``taken`` notes when it first was)."""
        return self.state == DONE and self.taken is None

    def _end(self, state):
        self.state = state
        self.finished = time.time()
        # A Retry button, or a view's automatic retry of a failure, runs it again with its request (retries.py).
        if state in RETRY_FROM and (self.retryable or (state == FAILED and self.attempt < self.max_attempts)):
            self.retry_request = self.request
            self.retry_dedupe, self.retry_address_key = self.dedupe, self.address_key  # for its retry (retries.py)
        self.request = None  # nobody runs it again: its copied request goes
        self.address_key = None  # nor counts it against its address's cap
        return True


class ProcessResult(Persistent):
    """The response of a finished process, loaded only when it is fetched.

    A big body is in ``blob`` (a ZODB blob), the rest in ``response``.
    """

    blob = None

    def __init__(self, response, blob=None):
        self.response = response
        self.blob = blob

    def taken(self):
        """The response to send, readable after this transaction: a blob's file is opened now."""
        if self.blob is None:
            return self.response
        return self.response.with_file(self.blob)


class InstanceRecord(Persistent):
    """An instance's sign of life: the time of its last heartbeat."""

    stopped = False
    # The queues it serves (queues.served(), as its last heartbeat wrote them): a
    # tuple of names, "default" for the default queue; None: every queue (and an
    # instance of a version before queues).
    queues = None
    # Its maintenance and claim failures (faults.py), for the control panel:
    # how many, the time of the last one, and what it was (one line).
    errors = 0
    last_error = None
    last_error_text = None

    def __init__(self, instance_id):
        self.instance_id = instance_id
        self.beat = time.time()


def is_number(value):
    """A percentage, not a bool (True means done, not 1%)."""
    return isinstance(value, Real) and not isinstance(value, bool)


def normalize_progress(value):
    """A percentage rounded to one decimal, an int when whole."""
    if not is_number(value) or not 0 <= value <= 100:
        raise ValueError(f"progress must be a number from 0 to 100, not {value!r}")
    value = round(float(value), 1)
    return int(value) if value.is_integer() else value



# The store (storage.py).


def stored(root):
    """The registry's store in ``root`` (a main database's root), or None
    before a first process (or once all went): ``exists``."""
    return root.get(ROOT_KEY)


def index(root, key):
    """The store's index ``key`` (``OWNERS_KEY``, ``STATES_KEY``, ...), or None
    when there is no registry. A read: nothing is made."""
    store = root.get(ROOT_KEY)
    return None if store is None else getattr(store, key)


def _store(root):
    """The store, made with every tree at a first process (a root write, once)."""
    return storage.made(root)


def _tree(root, key):
    """The store's index ``key`` (the store made if there is none)."""
    return getattr(_store(root), key)


# Reading (the caller's connection; never writes).


def find(connection, process_id):
    """The record of ``process_id`` as ``connection`` sees it, or None."""
    store = connection.root().get(ROOT_KEY)
    if store is None:
        return None
    return store.records.get(process_id)


def still_held(root, process_id):
    """Whether an address's hold on ``process_id`` stays (``addresses.hold``'s ``still_active``):
    its record waits or runs, or it has none yet, its start's record being added (``addresses.being_added``)."""
    record = find(root._p_jar, process_id)
    if record is None:
        return addresses.being_added(process_id)
    return record.state in ACTIVE


def effective_state(connection, record, timeout, now=None):
    """The record's state as it reads now: an active one whose instance is
    gone (``orphaned``) reads INTERRUPTED, or QUEUED if it will run again."""
    if orphaned(connection, record, timeout, now):
        return QUEUED if record.may_rerun() else INTERRUPTED
    return record.state


def orphaned(connection, record, timeout, now=None):
    """Whether an active record's instance stopped, or missed its heartbeat
    for more than ``timeout`` seconds (never for an unclaimed one)."""
    if record.state not in ACTIVE or record.instance in (None, UNCLAIMED):
        return False
    now = time.time() if now is None else now
    instances = index(connection.root(), INSTANCES_KEY)
    beat = instances.get(record.instance) if instances is not None else None
    if beat is not None and beat.stopped:
        return True
    last_sign = max(beat.beat if beat is not None else 0, record.started or record.created)
    return now - last_sign > timeout


def owner_key(record):
    """Whose a record is, as one string: the user id, or the anonymous browser's hashed secret."""
    return owner_key_of(record.owner, record.anonymous_key)


def owner_key_of(owner, anonymous_key):
    """``owner_key`` of a record of ``owner`` (None: anonymous) and ``anonymous_key``, before it is made."""
    return owner if owner is not None else f"anonymous:{anonymous_key}"


def queue_position(connection, record):
    """How many jobs of the same instance wait ahead of a queued one (None if not queued).

    It reads the instance's active records: a queue is as long as the jobs
    waiting in it, so this stays cheap while the registry grows.
    """
    if record.state != QUEUED:
        return None
    root = connection.root()
    if record.instance == UNCLAIMED:  # waiting in the database: behind the jobs of its own queue only
        return sum(1 for other in unclaimed(root, {queue_name(record.queue)}) if other is not record and _sooner(other, record))
    processes = index(root, RECORDS_KEY) or {}
    ahead = 0
    for pid in active_of(root, record.instance):
        other = processes.get(pid)
        if other is not None and other.state == QUEUED and _sooner(other, record):
            ahead += 1
    return ahead


def _sooner(one, other):
    """Whether ``one`` starts before ``other`` (of the same instance, or both unclaimed): a
    higher priority (aged: ``scheduling.rank``) first, else the one queued first."""
    if one.priority != other.priority:
        return (_rank(one), one.process_id) < (_rank(other), other.process_id)
    if one.instance == UNCLAIMED or one.ticket is None or other.ticket is None:
        return one.created < other.created
    return one.ticket < other.ticket


def dedupe_entry(key, scope, site, owner):
    """The only-once index's entry of ``key`` (a view's ``dedupe_key``):
    ``scope`` "owner" (``owner``'s, an owner key) or "site" (anyone's), in ``site``."""
    if scope not in ("owner", "site"):
        raise ValueError(f'dedupe_scope must be "owner" or "site", not {scope!r}')
    return (site, scope, owner if scope == "owner" else "", str(key))


def holder(connection, entry, timeout):
    """The record of the queued or running process that holds ``entry`` of
    the only-once index, as ``connection`` sees it, or None. The index's
    tree is read current (its making, a move of the store, conflicts with
    the start that reads it); an entry whose process reads ended (its
    instance died, not yet marked) holds nothing: a new start takes it over."""
    store = connection.root().get(ROOT_KEY)
    tree = None if store is None else getattr(store, DEDUPE_KEY, None)
    if tree is None:
        return None
    if tree._p_jar is not None:
        connection.readCurrent(tree)
    pid = tree.get(entry)
    record = None if pid is None else store.records.get(pid)
    if record is None or effective_state(connection, record, timeout) not in ACTIVE:
        return None
    return record


def _release_dedupe(root, record):
    """``record`` ended or goes: its entry of the only-once index goes, if it still holds it."""
    entry = record.dedupe
    if entry is None:
        return
    record.dedupe = None
    tree = getattr(_store(root), DEDUPE_KEY, None)
    if tree is not None and tree.get(entry) == record.process_id:
        del tree[entry]


# Writing.


def add(connection, record, instance, ticket, title=None):
    """Store a new queued record of ``instance``; committed with ``connection``'s transaction.

    ``title`` is what the job's pages call it (``jobtitle.at_start``), if given.

    The root and the store are read current: a removal of the registry
    (``remove_all``, which writes the root) or a move or re-indexing of
    its trees (``prepare``, which writes the store) committed since this
    transaction read them makes the commit conflict, whichever commits
    first, and Zope's retry adds the record to the registry as it now is;
    else it would go to trees that the root no longer holds. Concurrent
    starts do not conflict: after the first process, which makes the store
    with every tree at once, no start, end, heartbeat or claim writes the
    root or the store (see ``TREE_KEYS``).
    """
    root = connection.root()
    record.instance = instance
    record.ticket = ticket
    if title is not None:
        record.title = title
    store = _store(root)  # made by the first start (a write of the root, which conflicts with any other)
    if store._p_jar is not None:  # not made in this transaction (the first start, an anonymous one's hold)
        connection.readCurrent(store)
    connection.readCurrent(root)
    store.records[record.process_id] = record
    store.owners[(record.site, owner_key(record), record.created, record.process_id)] = True
    if record.dedupe is not None:  # a second start of the key committed meanwhile: the same key, a conflict
        tree = getattr(store, DEDUPE_KEY, None)
        if tree is None:  # a store of before it, not prepared yet (``prepare``): a write of the store, once
            tree = store.dedupe = OOBTree()
        tree[record.dedupe] = record.process_id
    _index(root, record, None, instance)


def change(db, process_id, func, attempts=None):
    """Call ``func(record)`` and commit, in a transaction of its own.

    Returns what ``func`` returned, or None when there is no such record.
    The indexes follow the record's state.
    """
    return in_own_transaction(db, lambda root: change_in(root, process_id, func), attempts)


def change_in(root, process_id, func):
    """``func(record)`` in the transaction of ``root``; the indexes follow. None if no record."""

    def changed(record, root):
        before = (record.state, record.instance)
        address = record.address_key  # an end clears it
        result = func(record)
        if (record.state, record.instance) != before:
            _index(root, record, *before)
            if address and record.state not in ACTIVE:  # no longer counts against its address's cap
                addresses.release(root, address, record.process_id)
        return result

    return _with_record(root, process_id, changed)


def take(db, process_id, keep_until=None, now=None):
    """The response of a done process, to be shown (``result``).

    One-shot (``keep_until`` None, as in 1.x): the result goes from the
    record (``drop_result``: its blob with it, once a pack runs), which
    stays without it until its expiry, as the sign that it was shown
    (``ProcessRecord.result_gone``), in no list any more; of two
    concurrent takers exactly one gets the response. With
    ``keep_until`` (a time), the result stays to be taken again: the first
    take notes when, and housekeeping drops the result at ``keep_until``
    (``EXPIRES_KEY``, ``forget_expired``); a later take writes nothing. None if there is no such done process, or
    its result was shown and is gone.
    """
    now = time.time() if now is None else now

    def taken(record, root):
        if record.state != DONE or record.result is None:
            return None
        response = record.result.taken()
        if record.form_values:  # "Back to the form" posts them no more once the result is out
            record.form_values = ()
        if record.taken is None:
            record.taken = now
        if keep_until is None:
            drop_result(root, record)
        elif record.keep_until is None:  # its result goes at keep_until
            end_index, key = _end_key(root, record)
            end_index.pop(key, None)
            record.keep_until = keep_until
            end_index, key = _end_key(root, record)
            end_index[key] = True
        return response

    # alone: it writes the indexes that this instance's starts and job ends write (its
    # owners' and states' buckets, emptied and split as results come and go), so it takes
    # its turn with them rather than conflict and retry after a pause (transactions.py)
    return in_own_transaction(db, lambda root: _with_record(root, process_id, taken), alone=True)


def beat_in(root, instance_id, stopped=False, queues=False):
    """Write ``instance_id``'s heartbeat (and that it stopped) in the transaction of ``root``;
    ``queues``, the names of the queues it serves (None: every one), with it (False: unchanged)."""
    instances_tree = _tree(root, INSTANCES_KEY)
    record = instances_tree.get(instance_id)
    if record is None:
        record = instances_tree[instance_id] = InstanceRecord(instance_id)
    record.beat = time.time()
    if queues is not False:
        queues = None if queues is None else tuple(sorted(queues))
        if record.queues != queues:
            record.queues = queues
    if stopped and not record.stopped:  # once stopped, an instance id stays stopped
        record.stopped = True


def active_of(root, instance_id):
    """The ids of the queued and running processes of an instance (of the
    unclaimed jobs: those still unclaimed, their records read)."""
    if instance_id == UNCLAIMED:
        return [record.process_id for record in unclaimed(root)]
    active = index(root, ACTIVE_KEY)
    if active is None:
        return []
    return [pid for (_iid, pid) in active.keys(min=(instance_id, ""), max=(instance_id, "\uffff")) if pid]


def active_ids(root):
    """The ids of all scheduled, queued and running processes: of every instance, unclaimed, scheduled."""
    active = index(root, ACTIVE_KEY)
    claimed = [] if active is None else [pid for (_iid, pid) in active.keys(min=(UNCLAIMED, "\uffff")) if pid]
    return claimed + active_of(root, UNCLAIMED) + [pid for _time, pid in scheduled_entries(root)]


def scheduled_entries(root, until=None):
    """The scheduled index's ``(time, process id)`` entries, soonest first; with ``until``, those due by then."""
    tree = getattr(root.get(ROOT_KEY), SCHEDULED_KEY, None)
    if tree is None:
        return []
    if until is None:
        return list(tree.keys())
    return list(tree.keys(max=(until, "\uffff")))


def next_scheduled(root):
    """When the soonest scheduled process is due (a time.time()), or None."""
    tree = getattr(root.get(ROOT_KEY), SCHEDULED_KEY, None)
    return tree.minKey()[0] if tree else None


def queue_due(root, now, limit=100):
    """Queue for any instance the scheduled processes due by ``now`` (at most ``limit``), in the
    transaction of ``root``: ``(how many, when the next is due or None)``. Each record is changed
    (``ProcessRecord.due``): two instances that queue the same one conflict, and the retry of the
    second finds it queued and its entry gone."""
    queued = 0
    for _time, pid in scheduled_entries(root, now)[:limit]:
        if change_in(root, pid, ProcessRecord.due) is None:  # its record went: its entry goes too
            _store(root).scheduled.pop((_time, pid), None)
        else:
            queued += 1
    return queued, next_scheduled(root)


def unclaimed(root, queues=None):
    """The records of the queued processes that any instance may take, oldest first.

    Lazily, in the order of their ids, which begin with their creation
    time: a claim that takes the first few reads those only, however many
    wait. ``queues``: only the jobs of these queues (names, ``queues.DEFAULT``
    for the default one: ``queues.served()``); None: of every queue.
    """
    store = root.get(ROOT_KEY)
    if store is None:
        return
    routed = getattr(store, ROUTED_KEY, None)
    named = _routed_queues(routed, queues) if routed else ()
    default = queues is None or DEFAULT_QUEUE in queues
    if not named:  # no job of a queue it serves waits but the default one's
        if default:
            yield from _default_unclaimed(store)
        return
    ranges = [_unclaimed_of(store, (key[-1] for key in routed.keys(min=(name,), max=(name, _LAST)))) for name in named]
    if default:
        ranges.append(_default_unclaimed(store))
    yield from heapq.merge(*ranges, key=_rank)


def _default_unclaimed(store):
    """The unclaimed records of the default queue, by rank."""
    plain = _unclaimed_of(store, store.unclaimed.keys())
    prioritized = getattr(store, PRIORITIZED_KEY, None)
    if not prioritized:  # no job of another priority than 0 waits: in the order of their ids
        return plain
    urgent = _unclaimed_of(store, (pid for _rank, pid in prioritized.keys()))
    return heapq.merge(urgent, plain, key=_rank)


def _routed_queues(routed, queues):
    """The names of the named queues in the routed index that ``queues`` (None: all) takes."""
    if queues is not None:
        return [name for name in sorted(queues) if name != DEFAULT_QUEUE]
    found, key = [], None
    while True:  # each queue's first key, skipping its others
        first = next(iter(routed.keys(min=key, excludemin=key is not None)), None)
        if first is None:
            return found
        found.append(first[0])
        key = (first[0], _LAST)


_LAST = float("inf")  # after every rank: a queue's last key in the routed index is before (queue, _LAST)


def serving(root, queue, timeout, now=None):
    """Whether a live instance (a heartbeat within ``timeout``, not stopped) serves ``queue``
    (a record's: None for the default one), as its heartbeat record says; a read. The default
    queue reads served unless a live instance names the queues it serves and none names it."""
    live = served_queues(root, timeout, now).values()
    name = queue_name(queue)
    if any(names is None or name in names for names in live):
        return True
    # The default queue: unserved only where live instances name the queues they serve (and none
    # names it); else (no live worker known, a front-end's cluster of 1.x's way) it reads as before.
    return queue is None and not any(live)


def waiting_queues(root):
    """``{queue name: how many of its jobs wait unclaimed}`` (``queues.DEFAULT`` for the default
    one), of the queues whose jobs wait; a read of the waiting jobs' records (few: the queue limit)."""
    found = {}
    for record in unclaimed(root):
        name = queue_name(record.queue)
        found[name] = found.get(name, 0) + 1
    return found


def served_queues(root, timeout, now=None):
    """``{instance id: its queues (None: every one)}`` of the live instances, as their heartbeats say; a read."""
    now = time.time() if now is None else now
    return {
        iid: record.queues
        for iid, record in (index(root, INSTANCES_KEY) or {}).items()
        if not record.stopped and now - record.beat <= timeout
    }


def _unclaimed_of(store, pids):
    for pid in pids:
        record = store.records.get(pid)
        if _is_unclaimed(record):
            yield record


def _rank(record):
    """A waiting record's place: lower starts sooner (``scheduling.rank``)."""
    return rank(record.created, record.priority)


def _prioritized_key(record):
    """A record's key in the prioritized index (PRIORITIZED_KEY), or None for one of priority 0 (or of a named queue)."""
    return (_rank(record), record.process_id) if record.priority and record.queue is None else None


def _routed_key(record):
    """A record's key in the routed index (ROUTED_KEY), or None for one of the default queue."""
    return None if record.queue is None else (record.queue, _rank(record), record.process_id)


def _is_unclaimed(record):
    return record is not None and record.state == QUEUED and record.instance == UNCLAIMED


def purge_claimed(root, at_least=None):
    """Remove the entries of the jobs no longer unclaimed that come before
    the first unclaimed job, once there are ``at_least`` of them
    (``PURGE_AT_LEAST``), keeping the last (see ``UNCLAIMED_KEY``); how many went."""
    store = root.get(ROOT_KEY)
    if store is None:
        return 0
    tree, processes = store.unclaimed, store.records
    gone = []
    for pid in tree.keys():
        if _is_unclaimed(processes.get(pid)):
            break
        gone.append(pid)
    if len(gone) < (PURGE_AT_LEAST if at_least is None else at_least):
        return 0
    for pid in gone[:-1]:
        del tree[pid]
    return len(gone) - 1


def unclaimed_count(root):
    """``(how many jobs wait unclaimed, the serial of that count)``: a read
    that loads one small object, again only when it changed; (0, None)
    when there is no registry."""
    length = index(root, UNCLAIMED_COUNT_KEY)
    if length is None:
        return 0, None
    return length(), length._p_serial


def waiting_in(root, queue):
    """How many jobs of ``queue`` (a record's: None, the default one) wait unclaimed: what ``queue-limit``
    and ``anonymous-queue-limit`` count for a start that waits in the database. A read: a named queue's
    entries of the routed index (its own jobs only); the default queue's, the unclaimed count less the
    routed index's (two small objects, however many wait)."""
    store = root.get(ROOT_KEY)
    routed = getattr(store, ROUTED_KEY, None)
    if queue is not None:
        return len(routed.keys(min=(queue,), max=(queue, _LAST))) if routed else 0
    length = getattr(store, ROUTED_COUNT_KEY, None)
    named = length() if length is not None else len(routed) if routed else 0  # a store of before the count: counted
    return max(0, unclaimed_count(root)[0] - named)


def _routed_length(store):
    """The routed index's count (ROUTED_COUNT_KEY); a store of before it gets it here, counted (a write of the store, once)."""
    length = getattr(store, ROUTED_COUNT_KEY, None)
    if length is None:
        routed = getattr(store, ROUTED_KEY, None)
        length = Length(len(routed) if routed else 0)
        setattr(store, ROUTED_COUNT_KEY, length)
    return length


def active_instances(root):
    """The ids of the instances that have queued or running processes (not UNCLAIMED)."""
    active = index(root, ACTIVE_KEY)
    found, key = set(), None
    while active is not None:
        keys = active.keys(min=key, excludemin=key is not None)
        if not keys:
            break
        iid = keys[0][0]
        if iid != UNCLAIMED:
            found.add(iid)
        key = (iid, "\uffff")  # past this instance's keys
    return found


def is_stopped(root, instance_id):
    """Whether the instance said it stopped (SIGTERM, SIGINT): a question, it changes nothing."""
    beat = (index(root, INSTANCES_KEY) or {}).get(instance_id)
    return beat is not None and beat.stopped


def instances(root):
    """``{instance id: InstanceRecord}`` of every instance that ever beat."""
    return dict(index(root, INSTANCES_KEY) or {})


def forget_expired(root, index_key, before, limit):
    """Forget at most ``limit`` processes of the index ``index_key`` whose
    time is before ``before``: ENDED_KEY (by end time, those kept for the
    instance's expiry) or EXPIRES_KEY (by expiry time, those kept for their
    site's, and the kept results whose ``keep_until`` it is: their result
    goes, ``drop_result``, and their record waits for its expiry as a
    one-shot's does). Returns how many entries it went through: an entry
    whose record went already goes too, so that no entry is met again."""
    end_index = index(root, index_key)
    if end_index is None:
        return 0
    entries = list(end_index.keys(max=(before, ""), excludemax=True)[:limit])
    processes = index(root, RECORDS_KEY)
    for entry in entries:
        record = processes.get(entry[1])
        end_index.pop(entry, None)
        if record is None:
            continue
        if index_key == EXPIRES_KEY and record.keep_until is not None and entry[0] == record.keep_until:
            drop_result(root, record)
        else:
            _remove(root, record)
    return len(entries)


def drop_result(root, record):
    """A done record's result goes (its blob with it, once a pack runs), in
    the transaction of ``root``: a one-shot result taken, a kept one at its
    time. The record leaves the lists (its owner's, its state's and count),
    and stays in the states index as ``SHOWN`` and in the expiry index,
    until ``finished`` + its expiry, to tell its owner it was shown."""
    site, pid = record.site, record.process_id
    if record.keep_until is not None:  # no longer kept: it waits for its expiry as a one-shot's record
        end_index, key = _end_key(root, record)
        end_index.pop(key, None)
        record.keep_until = None
        end_index, key = _end_key(root, record)
        end_index[key] = True
    record.result = None
    _tree(root, OWNERS_KEY).pop((site, owner_key(record), record.created, pid), None)
    states = _tree(root, STATES_KEY)
    if states.pop((site, DONE, pid), None):
        _count(_tree(root, COUNTS_KEY), site, DONE).change(-1)
    _state_index(root, record, None)


def _end_key(root, record):
    """Where an ended record waits for its expiry: ``(index, key)``."""
    if record.keep_until is not None:  # a kept result: until then (at most its expiry)
        return _tree(root, EXPIRES_KEY), (record.keep_until, record.process_id)
    if record.expiry is None:
        return _tree(root, ENDED_KEY), (record.finished, record.process_id)
    return _tree(root, EXPIRES_KEY), (record.finished + record.expiry, record.process_id)


def remove(root, process_id):
    """Forget a process (a Manager's remove)."""
    store = root.get(ROOT_KEY)
    record = None if store is None else store.records.get(process_id)
    if record is not None:
        _remove(root, record)


def remove_ended(root, process_id, timeout, owner=None):
    """Forget a process that ended (or reads interrupted), in the transaction
    of ``root``: the Managers' Remove, and with ``owner`` (an owner key,
    ``owner_key``) its owner's on My processes. True if it went; False if it
    is active; None if there is no such process (or it is not ``owner``'s)."""
    connection = root._p_jar
    record = find(connection, process_id)
    if record is None or (owner is not None and owner_key(record) != owner):
        return None
    if effective_state(connection, record, timeout) in ACTIVE:
        return False
    remove(root, process_id)
    return True


def prepare(root):
    """Make the registry of ``root`` one this version reads, in the
    transaction of ``root`` (each instance as it starts, the upgrade step to
    1009): a registry of the root keys before the store is moved into one
    (``storage.move_root_keys``; its unclaimed index made if it had none),
    then the lists' indexes are built anew if they are of another version
    (``reindex_lists``); a store of before periodic jobs gets its
    ``periodic`` tree (``periodic.py``). Nothing is written where all are up to date, nor
    where there is no registry.

    :returns: ``(moved, indexed)``: how many records were moved into a
        store (None: none was moved), how many were indexed for the lists.
    """
    moved = None
    store, found = storage.move_root_keys(root)
    if store is not None:
        moved = len(store.records)
        if "unclaimed" not in found:  # a registry before the unclaimed index: they were in the active one
            _move_unclaimed_entries(store)
        if "unclaimed_count" not in found:
            store.unclaimed_count = Length(sum(1 for _record in unclaimed(root)))
    elif ROOT_KEY in root:
        for name in ("periodic", DEDUPE_KEY, SCHEDULED_KEY, PRIORITIZED_KEY, ROUTED_KEY):  # a store of before periodic jobs (periodic.py), or only-once starts
            if getattr(root[ROOT_KEY], name, None) is None:
                setattr(root[ROOT_KEY], name, OOBTree())  # once
        _routed_length(root[ROOT_KEY])  # a store of before the routed index's count: counted, once
    if ROOT_KEY in root and store is None and storage.has_keys_before(root):
        logger.error(
            "netsight.async: the database's root holds keys of a registry of a version before %s "
            "(%s): an instance of that version wrote them after the move; they are left as they are",
            ROOT_KEY,
            ", ".join(sorted(key for key in root.keys() if key in storage.KEYS_BEFORE.values())),
        )
    return moved, reindex_lists(root)


def _move_unclaimed_entries(store):
    """The unclaimed entries of a registry's active index (before the unclaimed index) go to it."""
    active = store.active
    for key in list(active.keys(min=(UNCLAIMED, ""), max=(UNCLAIMED, "\uffff"), excludemin=True)):
        store.unclaimed[key[1]] = True
        del active[key]


def reindex_lists(root):
    """Build the lists' indexes anew from the records if they are of another
    version (or none: a registry of a version without them). Returns how
    many records it indexed (0 when they were up to date, or when there is
    no registry: nothing is written before a first process)."""
    store = root.get(ROOT_KEY)
    if store is None or store.lists_version == LISTS_VERSION:
        return 0
    store.states, store.owners, store.counts = OOBTree(), OOBTree(), OOBTree()
    store.lists_version = LISTS_VERSION
    for pid, record in store.records.items():
        root._p_jar.readCurrent(record)  # a record changed meanwhile: a conflict, and a retry
        if not record.result_gone():  # a shown result's record is in no list (``drop_result``)
            store.owners[(record.site, owner_key(record), record.created, pid)] = True
        _state_index(root, record, None)
    return len(store.records)


def exists(root):
    """Whether the database holds a registry (a process was ever started, and not all removed)."""
    return ROOT_KEY in root


def remove_site(root, site):
    """Remove every process of ``site`` (a Plone site's path), its lists'
    entries and the records of its periodic jobs (``periodic.py``: a
    schedule of a context in it), in the transaction of ``root``; returns
    the ids of those that were queued or running (to be stopped where they run)."""
    active = []
    store = root.get(ROOT_KEY)
    if store is None:
        return active
    owners, processes = store.owners, store.records
    for key in list(owners.keys(min=(site,), max=(site + "\x00",), excludemax=True)):
        record = processes.get(key[-1])
        if record is None or record.site != site:
            owners.pop(key, None)
            continue
        if record.state in ACTIVE:
            active.append(record.process_id)
        _remove(root, record)
    states = store.states  # the records of shown results, in no owner's list
    for key in list(states.keys(min=(site, SHOWN, ""), max=(site, SHOWN, "\uffff"), excludemin=True)):
        record = processes.get(key[-1])
        if record is not None and record.site == site:
            _remove(root, record)
    for site_index in (store.states, store.counts):  # the site's first keys and counts, kept while it had processes
        for entry in list(site_index.keys(min=(site,), max=(site + "\x00",), excludemax=True)):
            del site_index[entry]
    schedules = getattr(store, "periodic", None)  # "/plone/export (every 3600, as admin)" -> its last period
    if schedules is not None and site:
        for key, schedule in list(schedules.items(min=site + "/", max=site + "0", excludemax=True)):  # "0" follows "/"
            if getattr(schedule, "site", None) in (site, None):  # not a Plone site's within it (None: of before its site)
                del schedules[key]
    return active


def remove_all(root, only_if_empty=True):
    """Remove the registry's keys from the root (``ROOT_KEYS``, and those
    of a registry before the store): the records, their results and blobs
    (a pack then drops them), the indexes, the heartbeats. With
    ``only_if_empty``, only when no process and no record of a Plone
    site's periodic job is left (a process added meanwhile makes the commit
    conflict). Returns whether it removed them."""
    store = root.get(ROOT_KEY)
    if only_if_empty and store is not None:
        root._p_jar.readCurrent(store.records)  # empty, a tree is one object: an add conflicts
        if store.records or any(getattr(schedule, "site", None) for schedule in getattr(store, "periodic", {}).values()):
            return False  # a process, or another Plone site's periodic job (its last period) is left
    found = [key for key in (*ROOT_KEYS, *storage.KEYS_BEFORE.values(), *OLD_LISTS_KEYS) if key in root]
    for key in found:
        del root[key]
    return bool(found)


def forget_instance(root, instance_id):
    instances_tree = index(root, INSTANCES_KEY)
    if instances_tree is not None and instance_id in instances_tree:
        del instances_tree[instance_id]


def _with_record(root, process_id, func):
    store = root.get(ROOT_KEY)
    record = None if store is None else store.records.get(process_id)
    return None if record is None else func(record, root)


def _index(root, record, before, before_instance):
    """Keep the indexes in step with a record that was in state ``before`` of ``before_instance``."""
    pid, iid = record.process_id, record.instance
    if record.state != before:
        _state_index(root, record, before)
    if before in QUEUED_OR_RUNNING and (record.state not in QUEUED_OR_RUNNING or iid != before_instance):
        _unindex_active(root, before_instance, pid, record)
    if before in ACTIVE and record.state not in ACTIVE:
        _release_dedupe(root, record)
    if (before == SCHEDULED) != (record.state == SCHEDULED):  # scheduled, or no longer (due, cancelled)
        _scheduled_entry(root, record, record.state == SCHEDULED)
    if record.state in QUEUED_OR_RUNNING and (before not in QUEUED_OR_RUNNING or iid != before_instance):
        if iid == UNCLAIMED:
            store, key = _store(root), _prioritized_key(record)
            if record.queue is not None:  # a named queue's: in its index of its own (a store of before it gets it here, once)
                if getattr(store, ROUTED_KEY, None) is None:
                    store.routed = OOBTree()
                _routed_length(store).change(1)  # made (counted) before the entry
                store.routed[_routed_key(record)] = True
            elif key is None:
                store.unclaimed[pid] = True
            else:  # a priority other than 0: in its index of its own (a store of before it gets it here, once)
                if getattr(store, PRIORITIZED_KEY, None) is None:
                    store.prioritized = OOBTree()
                store.prioritized[key] = True
            store.unclaimed_count.change(1)
        else:
            active = _tree(root, ACTIVE_KEY)
            if SENTINEL not in active:
                active[SENTINEL] = True
            active[(iid, pid)] = True
    if record.state in ENDED and before not in ENDED:
        end_index, key = _end_key(root, record)
        end_index[key] = True


def _state_index(root, record, before):
    """An ended record goes to the states index and counts (a process ends
    once: ``before`` is active, or None when the index is built anew, or
    when its result goes); one whose result is gone goes under ``SHOWN``, uncounted."""
    if record.state not in ENDED or before in ENDED:
        return
    states, site, pid = _tree(root, STATES_KEY), record.site, record.process_id
    state = SHOWN if record.result_gone() else record.state
    if (site, state, "") not in states:  # a state's first key stays (see SENTINEL)
        states[(site, state, "")] = True
    states[(site, state, pid)] = True
    if state != SHOWN:
        _count(_tree(root, COUNTS_KEY), site, state).change(1)


def _count(counts, site, state):
    """The Length of ``site``'s records in ``state`` (concurrent changes merge)."""
    length = counts.get((site, state))
    if length is None:
        length = counts[(site, state)] = Length()
    return length


def count(root, site, state):
    """How many of ``site``'s records ended in ``state``."""
    length = (index(root, COUNTS_KEY) or {}).get((site, state))
    return 0 if length is None else length()


def _unindex_active(root, instance, pid, record=None):
    """Take ``(instance, pid)`` out of the active index; an unclaimed one
    stays in the unclaimed index (see ``UNCLAIMED_KEY``), and leaves the count;
    one of another priority than 0 (``record``'s) leaves the prioritized index."""
    store = _store(root)
    key = None if record is None else _prioritized_key(record)
    routed_key = None if record is None else _routed_key(record)
    if instance != UNCLAIMED:
        store.active.pop((instance, pid), None)
    elif routed_key is not None:
        routed = getattr(store, ROUTED_KEY, None)
        if routed is not None and routed_key in routed:
            _routed_length(store).change(-1)  # made (counted) before the entry goes
            del routed[routed_key]
            store.unclaimed_count.change(-1)
    elif key is not None:
        prioritized = getattr(store, PRIORITIZED_KEY, None)
        if prioritized is not None and prioritized.pop(key, None):
            store.unclaimed_count.change(-1)
    elif pid in store.unclaimed:
        store.unclaimed_count.change(-1)


def _scheduled_entry(root, record, present):
    """Add (``present``) or take out a scheduled record's entry of the scheduled index."""
    tree = getattr(_store(root), SCHEDULED_KEY, None)
    if tree is None:  # a store of before it, not prepared yet (``prepare``): a write of the store, once
        if not present:
            return
        tree = _store(root).scheduled = OOBTree()
    key = (record.run_after, record.process_id)
    if present:
        tree[key] = True
    else:
        tree.pop(key, None)


def _remove(root, record):
    pid = record.process_id
    if record.state == SCHEDULED:
        _scheduled_entry(root, record, False)
    if record.state in ACTIVE:
        _unindex_active(root, record.instance, pid, record)
        addresses.release(root, record.address_key, pid)
    _release_dedupe(root, record)
    if record.finished is not None:
        # From the index of end times too: an instance of another version may have used it.
        _tree(root, ENDED_KEY).pop((record.finished, pid), None)
        end_index, key = _end_key(root, record)
        end_index.pop(key, None)
    _tree(root, OWNERS_KEY).pop((record.site, owner_key(record), record.created, pid), None)
    if record.state in ENDED and _tree(root, STATES_KEY).pop((record.site, record.state, pid), None):
        _count(_tree(root, COUNTS_KEY), record.site, record.state).change(-1)
    if record.state == DONE:
        _tree(root, STATES_KEY).pop((record.site, SHOWN, pid), None)
    del _store(root).records[pid]
