"""The anonymous visitors' addresses as 2.0's development versions kept them (profile 1008 and before), frozen: a root key.

A copy of ``addresses.py`` as of commit 42d329e, before the store, for
``registry_before_store``: its functions verbatim, its class the package's
own. Do not change it to follow ``addresses.py``.
"""

from netsight.asynchronous.addresses import AddressProcesses


from BTrees.OOBTree import OOBTree
from persistent import Persistent


ADDRESSES_KEY = "netsight.async.addresses"  # address key -> AddressProcesses
HMAC_KEY_KEY = "netsight.async.address-key"  # the HMAC key of address keys (anonymous.py)
# A key that never goes, first in the tree: its first bucket is never
# emptied, since a BTree cannot merge a change that empties a bucket with
# another that adds to it (as registry.SENTINEL).
SENTINEL = ""


def process_ids(root, key):
    """The ids held for address key ``key`` (some may have ended meanwhile)."""
    tree = root.get(ADDRESSES_KEY)
    held = None if tree is None else tree.get(key)
    return () if held is None else held.process_ids


def hold(root, key, process_id, still_active):
    """Add ``process_id`` to ``key``'s ids, in the transaction of ``root``.

    Always a write of the address's object (or an insert of its key), so
    that a concurrent start from the same address conflicts. The ids for
    which ``still_active(pid)`` is false (records that ended without a
    release, or went) are dropped on the way.
    """
    tree = root.get(ADDRESSES_KEY)
    if tree is None:
        tree = root[ADDRESSES_KEY] = OOBTree()
        tree[SENTINEL] = True
    held = tree.get(key)
    if held is None:
        held = tree[key] = AddressProcesses()
    held.process_ids = (*(pid for pid in held.process_ids if still_active(pid)), process_id)


def release(root, key, process_id):
    """Take ``process_id`` out of ``key``'s ids; the address's object goes with its last one."""
    tree = root.get(ADDRESSES_KEY)
    held = None if tree is None or not key else tree.get(key)
    if held is None or process_id not in held.process_ids:
        return
    held.process_ids = tuple(pid for pid in held.process_ids if pid != process_id)
    if not held.process_ids:  # written all the same: a start holding it meanwhile conflicts
        del tree[key]
