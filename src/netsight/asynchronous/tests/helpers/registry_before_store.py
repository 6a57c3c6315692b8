"""The registry's storage as 2.0's development versions wrote it (profile 1008 and before), frozen: eleven root keys.

A copy of ``registry.py`` as of commit 42d329e, before the store
(``storage.ProcessStore``), to write and read databases of that layout in
``test_storage_migration``: its functions verbatim, its classes (records,
results, heartbeats) and its ids the package's own, so that what it stores
loads as what that version stored. Do not change it to follow the registry:
it is the layout the registry's ``prepare`` moves. The anonymous visitors'
addresses of then are ``addresses_before_store``; ``notify.expect`` of then
noted a mail owed under ``MAIL_PENDING_KEY``.
"""

from netsight.asynchronous.ids import new_process_id  # noqa: F401
from netsight.asynchronous.registry import InstanceRecord
from netsight.asynchronous.registry import ProcessRecord  # noqa: F401
from netsight.asynchronous.registry import ProcessResult  # noqa: F401


from BTrees.Length import Length
from netsight.asynchronous.tests.helpers import addresses_before_store as addresses
from BTrees.OOBTree import OOBTree
from numbers import Real
from persistent import Persistent
from transaction.interfaces import TransientError

import logging
import random
import secrets
import time
import transaction
import uuid


logger = logging.getLogger("netsight.async")

MAIL_PENDING_KEY = "netsight.async.mail-pending"  # notify.PENDING_KEY of then: process id -> end time

ROOT_KEY = "netsight.async.processes"
ACTIVE_KEY = "netsight.async.active"  # (instance id, process id) -> True
ENDED_KEY = "netsight.async.ended"  # (end time, process id) -> True, kept for the instance's expiry
EXPIRES_KEY = "netsight.async.expires"  # (expiry time, process id) -> True, kept for its site's expiry
INSTANCES_KEY = "netsight.async.instances"  # instance id -> InstanceRecord
# The lists' indexes: a record's site is the path of the Plone site it was
# started in ("" outside any); they are rebuilt when LISTS_VERSION changes.
# The active processes are few: the lists find them in ACTIVE_KEY; the
# ended ones, which may be many, by site and state here, counted.
STATES_KEY = "netsight.async.states"  # (site, ended state, process id) -> True; (site, SHOWN, id) too
COUNTS_KEY = "netsight.async.counts"  # (site, ended state) -> Length
OWNERS_KEY = "netsight.async.owners"  # (site, owner key, created, process id) -> True
LISTS_VERSION_KEY = "netsight.async.lists-version"
# How many jobs wait unclaimed: a Length, whose concurrent changes merge
# (two front-ends' starts never conflict on it). A worker watches it to
# claim a job as soon as its start is committed (claims.py, instance.py).
UNCLAIMED_COUNT_KEY = "netsight.async.unclaimed-count"
UNCLAIMED_KEY = "netsight.async.unclaimed"  # process id -> True: the jobs queued for any instance (see below)
LISTS_VERSION = 4
OLD_LISTS_KEYS = ("netsight.async.sites",)  # indexes of versions before, removed
# Every key of the root that the registry writes: all go together once no
# process is left (``remove_all``); before a first process, none is written.
ROOT_KEYS = (
    ROOT_KEY,
    ACTIVE_KEY,
    ENDED_KEY,
    EXPIRES_KEY,
    INSTANCES_KEY,
    STATES_KEY,
    COUNTS_KEY,
    OWNERS_KEY,
    LISTS_VERSION_KEY,
    UNCLAIMED_COUNT_KEY,
    UNCLAIMED_KEY,
    addresses.ADDRESSES_KEY,  # anonymous visitors' active processes by address (addresses.py)
    addresses.HMAC_KEY_KEY,  # the key of their addresses' keyed hashes (anonymous.py)
)
# The root keys that hold a BTree, all made by the first process (``add``).
TREE_KEYS = (ROOT_KEY, ACTIVE_KEY, ENDED_KEY, EXPIRES_KEY, INSTANCES_KEY, STATES_KEY, COUNTS_KEY, OWNERS_KEY)
# What writes the main database's root, which every start reads current
# (``add``): the first process (every tree and LISTS_VERSION_KEY at once),
# ``remove_all``, ``reindex_lists`` when LISTS_VERSION changes, and the
# anonymous visitors' keys at a first anonymous start (addresses.py,
# anonymous.py), and the unclaimed index and count at a first unclaimed
# job (``_unclaimed_tree``, ``_unclaimed_changed``). A start meets a
# ConflictError only with one of these,
# each once in a registry's life, and Zope's retry starts it again.
UNCLAIMED = ""  # the "instance" of a queued job that any instance with a pool may take
# UNCLAIMED_KEY: the jobs queued for any instance (``UNCLAIMED``), in an index of their own
# beside the active one: process id -> True. The front-ends' starts add
# after its last entry; no claim writes it: a claim that wrote the bucket a
# start was splitting (a claim's or a job end's entry of a worker beside
# the unclaimed ones in one index, or an unclaimed entry it removed) made
# the start's commit conflict. The entries of jobs no longer unclaimed go
# in bulk, before the first unclaimed job, once there are
# ``PURGE_AT_LEAST`` (``purge_claimed``), the last kept: the bucket that
# the starts add to is never emptied. Made at a first unclaimed job (a
# root write, once), with the unclaimed entries that the active index of
# a registry before it held.
PURGE_AT_LEAST = 128
# A key that never goes, first in the active index: its bucket is never
# emptied, since a BTree cannot merge a change that empties a bucket with
# another that adds to it (every start and every end writes this index).
SENTINEL = ("", "")
ATTEMPTS = 50  # of a short registry transaction that meets ConflictErrors (about 40 s at most)
BACKOFF = 0.005  # seconds: the first retry's longest wait; doubled at each, up to 1 s

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
ACTIVE = frozenset({QUEUED, RUNNING})
# Not a state: where the states index keeps a done record whose result was
# shown and is gone (``drop_result``). No list, owner's index nor count
# has it any more; its record stays until its expiry only to tell its
# owner so (410), and this entry finds it when its site is removed.
SHOWN = "shown"

# Why a process was interrupted (its ``error``, for Managers).
STOPPED_REASON = "the server was stopped before the process completed"
DEAD_REASON = "its instance stopped answering (no heartbeat) before the process completed"
ENDED = frozenset({DONE, FAILED, CANCELLED, INTERRUPTED})
STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED)


def is_number(value):
    """A percentage, not a bool (True means done, not 1%)."""
    return isinstance(value, Real) and not isinstance(value, bool)


def normalize_progress(value):
    """A percentage rounded to one decimal, an int when whole."""
    if not is_number(value) or not 0 <= value <= 100:
        raise ValueError(f"progress must be a number from 0 to 100, not {value!r}")
    value = round(float(value), 1)
    return int(value) if value.is_integer() else value


# Reading (the caller's connection; never writes).


def find(connection, process_id):
    """The record of ``process_id`` as ``connection`` sees it, or None."""
    processes = connection.root().get(ROOT_KEY)
    if processes is None:
        return None
    return processes.get(process_id)


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
    instances = connection.root().get(INSTANCES_KEY)
    beat = instances.get(record.instance) if instances is not None else None
    if beat is not None and beat.stopped:
        return True
    last_sign = max(beat.beat if beat is not None else 0, record.started or record.created)
    return now - last_sign > timeout


def owner_key(record):
    """Whose a record is, as one string: the user id, or the anonymous browser's hashed secret."""
    return record.owner if record.owner is not None else f"anonymous:{record.anonymous_key}"


def queue_position(connection, record):
    """How many jobs of the same instance wait ahead of a queued one (None if not queued).

    It reads the instance's active records: a queue is as long as the jobs
    waiting in it, so this stays cheap while the registry grows.
    """
    if record.state != QUEUED:
        return None
    root = connection.root()
    processes = root.get(ROOT_KEY)
    ahead = 0
    for pid in active_of(root, record.instance):
        other = processes.get(pid)
        if other is not None and other.state == QUEUED and _sooner(other, record):
            ahead += 1
    return ahead


def _sooner(one, other):
    """Whether ``one`` was queued before ``other`` (of the same instance, or both unclaimed)."""
    if one.instance == UNCLAIMED or one.ticket is None or other.ticket is None:
        return one.created < other.created
    return one.ticket < other.ticket


# Writing.


def add(connection, record, instance, ticket, title=None):
    """Store a new queued record of ``instance``; committed with ``connection``'s transaction.

    ``title`` is what the job's pages call it (``jobtitle.at_start``), if given.

    The root is read current: a removal of the registry (``remove_all``,
    which writes the root) committed since this transaction read it makes
    the commit conflict, whichever commits first, and Zope's retry adds the
    record to a registry made anew; else it would go to trees that the
    root no longer holds. Concurrent starts do not conflict: after the
    first process, which makes every tree of the registry at once, nothing
    but a removal writes the root (see ``TREE_KEYS``).
    """
    root = connection.root()
    record.instance = instance
    record.ticket = ticket
    if title is not None:
        record.title = title
    if ROOT_KEY not in root:  # the first process: the lists' indexes are built as they go
        root[LISTS_VERSION_KEY] = LISTS_VERSION
        for key in TREE_KEYS:  # no later end, heartbeat or claim writes the root
            _tree(root, key)
    connection.readCurrent(root)
    _tree(root, ROOT_KEY)[record.process_id] = record
    _tree(root, OWNERS_KEY)[(record.site, owner_key(record), record.created, record.process_id)] = True
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
            index, key = _end_key(root, record)
            index.pop(key, None)
            record.keep_until = keep_until
            index, key = _end_key(root, record)
            index[key] = True
        return response

    return in_own_transaction(db, lambda root: _with_record(root, process_id, taken))


def beat_in(root, instance_id, stopped=False):
    """Write ``instance_id``'s heartbeat (and that it stopped) in the transaction of ``root``."""
    instances_tree = _tree(root, INSTANCES_KEY)
    record = instances_tree.get(instance_id)
    if record is None:
        record = instances_tree[instance_id] = InstanceRecord(instance_id)
    record.beat = time.time()
    if stopped and not record.stopped:  # once stopped, an instance id stays stopped
        record.stopped = True


def active_of(root, instance_id):
    """The ids of the queued and running processes of an instance (of the
    unclaimed jobs: those still unclaimed, their records read)."""
    if instance_id == UNCLAIMED:
        return [record.process_id for record in unclaimed(root)]
    active = root.get(ACTIVE_KEY)
    if active is None:
        return []
    return [pid for (_iid, pid) in active.keys(min=(instance_id, ""), max=(instance_id, "\uffff")) if pid]


def active_ids(root):
    """The ids of all queued and running processes: of every instance, and unclaimed."""
    active = root.get(ACTIVE_KEY)
    claimed = [] if active is None else [pid for (_iid, pid) in active.keys(min=(UNCLAIMED, "\uffff")) if pid]
    return claimed + active_of(root, UNCLAIMED)


def unclaimed(root):
    """The records of the queued processes that any instance may take, oldest first.

    Lazily, in the order of their ids, which begin with their creation
    time: a claim that takes the first few reads those only, however many
    wait.
    """
    processes = root.get(ROOT_KEY)
    if processes is None:
        return
    for pid in _unclaimed_ids(root):
        record = processes.get(pid)
        if _is_unclaimed(record):
            yield record


def _unclaimed_ids(root):
    """The ids of the unclaimed index (``UNCLAIMED_KEY``), or of a registry
    made before it, those of the active index's unclaimed range."""
    tree = root.get(UNCLAIMED_KEY)
    if tree is not None:
        return tree.keys()
    active = root.get(ACTIVE_KEY)
    if active is None:
        return ()
    return (pid for _iid, pid in active.keys(min=(UNCLAIMED, ""), max=(UNCLAIMED, "\uffff"), excludemin=True))


def _is_unclaimed(record):
    return record is not None and record.state == QUEUED and record.instance == UNCLAIMED


def purge_claimed(root, at_least=None):
    """Remove the entries of the jobs no longer unclaimed that come before
    the first unclaimed job, once there are ``at_least`` of them
    (``PURGE_AT_LEAST``), keeping the last (see ``UNCLAIMED_KEY``); how many went."""
    tree, processes = root.get(UNCLAIMED_KEY), root.get(ROOT_KEY)
    if tree is None or processes is None:
        return 0
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
    before any job was queued unclaimed."""
    length = root.get(UNCLAIMED_COUNT_KEY)
    if length is None:
        return 0, None
    return length(), length._p_serial


def active_instances(root):
    """The ids of the instances that have queued or running processes (not UNCLAIMED)."""
    active = root.get(ACTIVE_KEY)
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


def stopped(root, instance_id):
    """Whether the instance said it stopped (SIGTERM, SIGINT)."""
    beat = (root.get(INSTANCES_KEY) or {}).get(instance_id)
    return beat is not None and beat.stopped


def instances(root):
    """``{instance id: InstanceRecord}`` of every instance that ever beat."""
    return dict(root.get(INSTANCES_KEY) or {})


def forget_expired(root, index_key, before, limit):
    """Forget at most ``limit`` processes of the index ``index_key`` whose
    time is before ``before``: ENDED_KEY (by end time, those kept for the
    instance's expiry) or EXPIRES_KEY (by expiry time, those kept for their
    site's, and the kept results whose ``keep_until`` it is: their result
    goes, ``drop_result``, and their record waits for its expiry as a
    one-shot's does). Returns how many entries it went through: an entry
    whose record went already (removed by an instance of another version)
    goes too, so that no entry is met again."""
    index = root.get(index_key)
    if index is None:
        return 0
    entries = list(index.keys(max=(before, ""), excludemax=True)[:limit])
    processes = root.get(ROOT_KEY) or {}
    for entry in entries:
        record = processes.get(entry[1])
        index.pop(entry, None)
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
        index, key = _end_key(root, record)
        index.pop(key, None)
        record.keep_until = None
        index, key = _end_key(root, record)
        index[key] = True
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
    record = _tree(root, ROOT_KEY).get(process_id)
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


def reindex_lists(root):
    """Build the lists' indexes anew from the records if they are of another
    version (or none: a registry of a version without them). Returns how
    many records it indexed (0 when they were up to date, or when there is
    no registry: nothing is written before a first process)."""
    if root.get(LISTS_VERSION_KEY) == LISTS_VERSION or ROOT_KEY not in root:
        return 0
    for key in OLD_LISTS_KEYS:
        root.pop(key, None)
    for key in (STATES_KEY, OWNERS_KEY, COUNTS_KEY):
        root[key] = OOBTree()
    root[LISTS_VERSION_KEY] = LISTS_VERSION
    processes = root.get(ROOT_KEY) or {}
    for pid, record in processes.items():
        root._p_jar.readCurrent(record)  # a record changed meanwhile: a conflict, and a retry
        if not record.result_gone():  # a shown result's record is in no list (``drop_result``)
            root[OWNERS_KEY][(record.site, owner_key(record), record.created, pid)] = True
        _state_index(root, record, None)
    return len(processes)


def exists(root):
    """Whether the database holds a registry (a process was ever started, and not all removed)."""
    return ROOT_KEY in root


def remove_site(root, site):
    """Remove every process of ``site`` (a Plone site's path) and its lists'
    entries, in the transaction of ``root``; returns the ids of those that
    were queued or running (to be stopped where they run)."""
    active = []
    owners = root.get(OWNERS_KEY)
    processes = root.get(ROOT_KEY)
    if owners is not None and processes is not None:
        for key in list(owners.keys(min=(site,), max=(site + "\x00",), excludemax=True)):
            record = processes.get(key[-1])
            if record is None or record.site != site:
                owners.pop(key, None)
                continue
            if record.state in ACTIVE:
                active.append(record.process_id)
            _remove(root, record)
    states = root.get(STATES_KEY)
    if states is not None and processes is not None:  # the records of shown results, in no owner's list
        for key in list(states.keys(min=(site, SHOWN, ""), max=(site, SHOWN, "\uffff"), excludemin=True)):
            record = processes.get(key[-1])
            if record is not None and record.site == site:
                _remove(root, record)
    for key in (STATES_KEY, COUNTS_KEY):  # the site's first keys and counts, kept while it had processes
        index = root.get(key)
        if index is not None:
            for entry in list(index.keys(min=(site,), max=(site + "\x00",), excludemax=True)):
                del index[entry]
    return active


def remove_all(root, only_if_empty=True):
    """Remove the registry's keys from the root (``ROOT_KEYS``): the records,
    their results and blobs (a pack then drops them), the indexes, the
    heartbeats. With ``only_if_empty``, only when no process is left (one
    added meanwhile makes the commit conflict). Returns whether it removed them."""
    processes = root.get(ROOT_KEY)
    if only_if_empty and processes is not None:
        root._p_jar.readCurrent(processes)  # empty, a tree is one object: an add conflicts
        if processes:
            return False
    found = [key for key in (*ROOT_KEYS, *OLD_LISTS_KEYS) if key in root]
    for key in found:
        del root[key]
    return bool(found)


def forget_instance(root, instance_id):
    instances_tree = root.get(INSTANCES_KEY)
    if instances_tree is not None and instance_id in instances_tree:
        del instances_tree[instance_id]


def in_own_transaction(db, func, attempts=None):
    """``func(root)`` in a short transaction on a connection of its own.

    Retried, with a growing random pause, on a ConflictError or another
    transient error (a ZEO server out of reach for a moment), ``attempts``
    times in all (``ATTEMPTS`` by default).
    """
    attempts = attempts or ATTEMPTS
    for attempt in range(1, attempts + 1):
        manager = transaction.TransactionManager()
        connection = db.open(transaction_manager=manager)
        try:
            manager.begin()
            result = func(connection.root())
            manager.commit()
            return result
        except TransientError:
            manager.abort()
            if attempt == attempts:
                raise
            logger.debug("Conflict in a registry write, retrying")
        except BaseException:
            manager.abort()
            raise
        finally:
            connection.close()
        time.sleep(random.uniform(0, min(1.0, BACKOFF * 2**attempt)))  # as Zope's delay_retry, holding no connection


def _with_record(root, process_id, func):
    processes = root.get(ROOT_KEY)
    record = None if processes is None else processes.get(process_id)
    return None if record is None else func(record, root)


def _tree(root, key):
    tree = root.get(key)
    if tree is None:
        tree = root[key] = OOBTree()
    return tree


def _index(root, record, before, before_instance):
    """Keep the indexes in step with a record that was in state ``before`` of ``before_instance``."""
    pid, iid = record.process_id, record.instance
    if record.state != before:
        _state_index(root, record, before)
    if before in ACTIVE and (record.state not in ACTIVE or iid != before_instance):
        _unindex_active(root, before_instance, pid)
    if record.state in ACTIVE and (before not in ACTIVE or iid != before_instance):
        if iid == UNCLAIMED:
            _unclaimed_tree(root)[pid] = True
            _unclaimed_changed(root, 1)
        else:
            active = _tree(root, ACTIVE_KEY)
            if SENTINEL not in active:
                active[SENTINEL] = True
            active[(iid, pid)] = True
    if record.state in ENDED and before not in ENDED:
        index, key = _end_key(root, record)
        index[key] = True


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
    length = (root.get(COUNTS_KEY) or {}).get((site, state))
    return 0 if length is None else length()


def _unclaimed_changed(root, change):
    """Add ``change`` to the count of the jobs waiting unclaimed (``UNCLAIMED_COUNT_KEY``).

    The count is made at the registry's first unclaimed job (a root write,
    once: with the trees on a front-end; on a worker, when a job of a
    stopped instance is queued again), from the records as they are after
    this change (a registry of a version before it may hold some).
    """
    length = root.get(UNCLAIMED_COUNT_KEY)
    if length is None:
        root[UNCLAIMED_COUNT_KEY] = Length(sum(1 for _record in unclaimed(root)))
    else:
        length.change(change)


def _unindex_active(root, instance, pid):
    """Take ``(instance, pid)`` out of the active index; an unclaimed one
    stays in the unclaimed index (see ``UNCLAIMED_KEY``), and leaves the count."""
    if instance != UNCLAIMED:
        _tree(root, ACTIVE_KEY).pop((instance, pid), None)
    elif pid in _unclaimed_tree(root):
        _unclaimed_changed(root, -1)


def _unclaimed_tree(root):
    """The unclaimed index (``UNCLAIMED_KEY``); made at a first unclaimed job,
    with the unclaimed entries of the active index of a registry before it."""
    tree = root.get(UNCLAIMED_KEY)
    if tree is None:
        tree = root[UNCLAIMED_KEY] = OOBTree()
        active = _tree(root, ACTIVE_KEY)
        for key in list(active.keys(min=(UNCLAIMED, ""), max=(UNCLAIMED, "\uffff"), excludemin=True)):
            tree[key[1]] = True
            del active[key]
    return tree


def _remove(root, record):
    pid = record.process_id
    if record.state in ACTIVE:
        _unindex_active(root, record.instance, pid)
        addresses.release(root, record.address_key, pid)
    if record.finished is not None:
        # From the index of end times too: an instance of another version may have used it.
        _tree(root, ENDED_KEY).pop((record.finished, pid), None)
        index, key = _end_key(root, record)
        index.pop(key, None)
    _tree(root, OWNERS_KEY).pop((record.site, owner_key(record), record.created, pid), None)
    if record.state in ENDED and _tree(root, STATES_KEY).pop((record.site, record.state, pid), None):
        _count(_tree(root, COUNTS_KEY), record.site, record.state).change(-1)
    if record.state == DONE:
        _tree(root, STATES_KEY).pop((record.site, SHOWN, pid), None)
    del root[ROOT_KEY][pid]
