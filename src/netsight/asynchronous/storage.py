"""Where the registry keeps its records: one ``ProcessStore`` under one key of the main database's root.

The store holds the records (process id -> ``registry.ProcessRecord``),
their indexes (BTrees) and their counts (``BTrees.Length``), each as an
attribute, and beside them the anonymous visitors' addresses
(``addresses.py``) with the key of their hashes (``anonymous.py``) and the
processes whose mail is not decided yet (``notify.py``): everything the
add-on keeps in the database, under one key. It is written when it is
made (by the first start) and when a registry written by a version before
it is moved into it (``move_root_keys``), never by a start, an end, a
heartbeat, a claim or a mail: these write the trees
and Lengths it holds, whose conflict resolution merges concurrent
changes, so that the one container adds no conflict. A start reads it
current (``registry.add``): a start that meets its making, its move or
its removal conflicts, and Zope's retry starts it again on the store as
it now is.

Versions 2.x before the store kept the same trees under fourteen keys of
the root (``KEYS_BEFORE``); ``move_root_keys`` moves them (the
trees themselves: no record is copied) into a new store, and removes
those keys. Which trees a store holds is ``ProcessStore.TREES``.

The store is a mapping of the records too (``store[process_id]``,
``store.get``, ``len(store)``, ``process_id in store``), so that code
that read the records' tree at the root key reads them alike.
"""

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from persistent import Persistent

import secrets


ROOT_KEY = "netsight.async"  # the store's key in the main database's root
LISTS_VERSION = 4  # of the lists' indexes (registry.reindex_lists): a new store's

# The root keys of the versions before the store, by the attribute of the store that takes each over.
KEYS_BEFORE = {
    "records": "netsight.async.processes",  # process id -> ProcessRecord
    "active": "netsight.async.active",
    "ended": "netsight.async.ended",
    "expires": "netsight.async.expires",
    "instances": "netsight.async.instances",
    "states": "netsight.async.states",
    "counts": "netsight.async.counts",
    "owners": "netsight.async.owners",
    "lists_version": "netsight.async.lists-version",
    "unclaimed_count": "netsight.async.unclaimed-count",
    "unclaimed": "netsight.async.unclaimed",
    "addresses": "netsight.async.addresses",
    "address_key": "netsight.async.address-key",
    "mail_pending": "netsight.async.mail-pending",
}
OLD_LISTS_KEYS = ("netsight.async.sites",)  # an index of the lists of versions before, removed


class ProcessStore(Persistent):
    """The registry's records, indexes and counts and what goes with them, under one root key (``ROOT_KEY``).

    The attributes (see ``registry`` for what each index holds):

    - ``records``: process id -> ``ProcessRecord``
    - ``active``: (instance id, process id) -> True, the queued and running
      processes of each instance
    - ``unclaimed``: process id -> True, the jobs queued for any instance;
      ``unclaimed_count``, a ``Length``: how many of them wait
    - ``ended``, ``expires``: (time, process id) -> True, the ended
      processes by end time and by expiry time
    - ``instances``: instance id -> ``InstanceRecord``, the heartbeats
    - ``states``, ``counts``, ``owners``: the lists' indexes, of the
      version ``lists_version``
    - ``addresses``: address key -> ``addresses.AddressProcesses``, the
      active processes of each anonymous visitor's address; ``address_key``:
      the HMAC key of those address keys (bytes, random, made with the store)
    - ``mail_pending``: process id -> end time, the processes whose mail is
      not decided yet (``notify.py``)
    - ``periodic``: schedule key -> ``periodic.ScheduleRecord``, the last
      period each periodic job was started (a store of before it gets it
      from ``registry.prepare``)
    - ``dedupe``: (site, scope, owner key, key) -> process id, the only-once
      starts' keys held by queued or running processes (``registry.holder``;
      a store of before it gets it from ``registry.prepare``)
    - ``scheduled``: (time, process id) -> True, the scheduled processes
      (a view's ``run_after``) by the time they are due (``registry.queue_due``;
      a store of before it gets it from ``registry.prepare``)
    - ``prioritized``: (rank, process id) -> True, the unclaimed jobs of a
      priority other than 0 (``registry.unclaimed`` merges them with the
      unclaimed index by rank; a store of before it gets it from
      ``registry.prepare``: its waiting jobs, all of priority 0, keep their order)
    - ``routed``: (queue, rank, process id) -> True, the unclaimed jobs of a
      named queue (a view's ``queue``: queues.py), by queue and rank
      (``registry.unclaimed`` walks the queues an instance serves; a store of
      before it gets it from ``registry.prepare``); ``routed_count``, a
      ``Length``: how many entries it holds (``registry.waiting_in``)

    Made whole, with every tree, so that no later write changes the store
    itself (no attribute is ever made lazily).
    """

    TREES = (
        "records",
        "active",
        "unclaimed",
        "ended",
        "expires",
        "instances",
        "states",
        "counts",
        "owners",
        "addresses",
        "mail_pending",
        "periodic",
        "dedupe",
        "scheduled",
        "prioritized",
        "routed",
    )

    def __init__(self, lists_version=LISTS_VERSION, unclaimed_count=None, address_key=None, **trees):
        """A new store; ``trees``, ``unclaimed_count``, ``address_key``: taken
        over from a registry of before (by attribute name), the others made anew."""
        for name in self.TREES:
            tree = trees.pop(name, None)
            setattr(self, name, OOBTree() if tree is None else tree)
        self.unclaimed_count = Length() if unclaimed_count is None else unclaimed_count
        self.routed_count = Length()  # the routed index's entries (registry.ROUTED_COUNT_KEY)
        self.address_key = secrets.token_bytes(32) if address_key is None else address_key
        self.lists_version = lists_version
        if trees:
            raise TypeError(f"not a tree of a ProcessStore: {', '.join(sorted(trees))}")

    # The records, as the tree at the root key was read before the store.

    def get(self, process_id, default=None):
        return self.records.get(process_id, default)

    def __getitem__(self, process_id):
        return self.records[process_id]

    def __contains__(self, process_id):
        return process_id in self.records

    def __len__(self):
        return len(self.records)

    def __bool__(self):
        return bool(self.records)

    def __iter__(self):
        return iter(self.records)

    def keys(self, *args, **kw):
        return self.records.keys(*args, **kw)

    def values(self, *args, **kw):
        return self.records.values(*args, **kw)

    def items(self, *args, **kw):
        return self.records.items(*args, **kw)

    def pop(self, process_id, *default):
        """Take a record out of ``records`` only (its index entries stay: ``registry.remove`` takes all)."""
        return self.records.pop(process_id, *default)


def store_of(root):
    """The store in ``root`` (a main database's root), or None: no process was ever started, or all went."""
    return root.get(ROOT_KEY)


def made(root):
    """The store in ``root``, made if there is none (a write of the root, once:
    by a first process, or a first anonymous visitor's start)."""
    store = root.get(ROOT_KEY)
    if store is None:
        store = root[ROOT_KEY] = ProcessStore()
    return store


def has_keys_before(root):
    """Whether ``root`` holds keys of a registry of a version before the store."""
    return any(key in root for key in (*KEYS_BEFORE.values(), *OLD_LISTS_KEYS))


def move_root_keys(root):
    """Move a registry of the root keys before the store into a new store, in
    the transaction of ``root``; those keys go from the root.

    :returns: ``(store, found)``: the store made (None when ``root`` holds
        no key of before, or holds a store already: then nothing is moved),
        and the names of the attributes taken over from keys that were
        there (a registry of an older version lacks some: the caller
        completes them, ``registry.prepare``).
    """
    if ROOT_KEY in root or not has_keys_before(root):
        return None, ()
    found = {name: root[key] for name, key in KEYS_BEFORE.items() if key in root}
    names = tuple(found)
    found.setdefault("lists_version", 0)  # a registry of before the lists' version: indexed anew
    store = ProcessStore(**found)
    for key in (*KEYS_BEFORE.values(), *OLD_LISTS_KEYS):
        root.pop(key, None)
    root[ROOT_KEY] = store
    return store, names
