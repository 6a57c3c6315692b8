"""The active anonymous processes of each client address: one persistent object per address, so that starts conflict.

An anonymous start is capped by its client address (``anonymous.py``).
Counting the address's active records and then adding one is a read
followed by inserts into BTrees, whose conflict resolution merges
concurrent inserts: N starts at once from one address would all pass the
cap. So each address with active processes has an ``AddressProcesses``
(its process ids) in the registry's store (``storage.ProcessStore``, its
``addresses``: ``ADDRESSES_KEY``), keyed by the address's keyed hash; a start reads it and writes it. It has no conflict
resolution: two concurrent starts from one address write the same object
(or insert the same key), one of them gets a ConflictError, and Zope's
publisher runs that request again, which then reads the other's process.
Starts from different addresses write different objects and keys, which
merge. A record's end (or removal) takes its id out (``release``, called
by ``registry``); the address's object goes with its last id, so no
address's hash outlives its active processes.

This module knows nothing of requests or settings; ``registry`` imports it.
Its functions take the root of the main database, whose store they read
(``storage.store_of``); ``hold`` makes the store at a first anonymous start.
"""

from netsight.asynchronous import storage
from netsight.asynchronous.ids import made_at
from persistent import Persistent

import time


ADDRESSES_KEY = "addresses"  # the store's tree: address key -> AddressProcesses
HMAC_KEY_KEY = "address_key"  # the store's HMAC key of address keys (anonymous.py)
# A key that never goes, first in the tree: its first bucket is never
# emptied, since a BTree cannot merge a change that empties a bucket with
# another that adds to it (as registry.SENTINEL).
SENTINEL = ""
ADDING = 60  # seconds: a held id without its record is a start whose record is being added, this long at most


class AddressProcesses(Persistent):
    """The ids of one client address's active anonymous processes.

    No ``_p_resolveConflict``: concurrent writes of one address conflict.
    """

    def __init__(self):
        self.process_ids = ()


def process_ids(root, key):
    """The ids held for address key ``key`` (some may have ended meanwhile)."""
    store = storage.store_of(root)
    held = None if store is None else store.addresses.get(key)
    return () if held is None else held.process_ids


def hold(root, key, process_id, still_active):
    """Add ``process_id`` to ``key``'s ids, in the transaction of ``root``.

    Always a write of the address's object (or an insert of its key), so
    that a concurrent start from the same address conflicts. The ids for
    which ``still_active(pid)`` is false (records that ended without a
    release, or went) are dropped on the way.
    """
    tree = storage.made(root).addresses
    if SENTINEL not in tree:
        tree[SENTINEL] = True
    held = tree.get(key)
    if held is None:
        held = tree[key] = AddressProcesses()
    held.process_ids = (*(pid for pid in held.process_ids if still_active(pid)), process_id)


def release(root, key, process_id):
    """Take ``process_id`` out of ``key``'s ids; the address's object goes with its last one."""
    store = storage.store_of(root)
    tree = None if store is None else store.addresses
    held = None if tree is None or not key else tree.get(key)
    if held is None or process_id not in held.process_ids:
        return
    held.process_ids = tuple(pid for pid in held.process_ids if pid != process_id)
    if not held.process_ids:  # written all the same: a start holding it meanwhile conflicts
        del tree[key]


def being_added(process_id, now=None):
    """Whether the held id ``process_id``, of no record, is a start whose record is being added.

    An anonymous start holds its id here in its request's transaction, and
    its record is added after that commits (startcommit.py): for that moment
    the id has no record, and must count (and stay held), or a concurrent
    start from the address would drop it and pass the cap. An id older than
    ``ADDING`` seconds without a record is a start whose record was never
    added (a record added later than that holds its id again: startcommit).
    """
    return (time.time() if now is None else now) - made_at(process_id) < ADDING
