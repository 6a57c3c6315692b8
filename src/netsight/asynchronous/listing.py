"""The lists of processes: newest first, filtered by state and owner, read lazily.

A ``Listing`` is a sequence of process records for ``plone.batching``: its
length and the records of one batch come from the registry's indexes
(process ids begin with their creation time, so an index read backwards
is newest first), so a page of 50 loads 50 records, however many there
are. The state filter is the stored state: a running process whose
instance died reads *interrupted* (``registry.effective_state``) but is
listed as running until housekeeping marks it. It only reads.
"""

from netsight.asynchronous import registry


class Listing:
    """The records of ``connection``'s registry, newest first.

    ``state``: only those whose stored state it is (one of
    ``registry.STATES``); ``owner``: only those of that owner key
    (``registry.owner_key``: a user id, or ``anonymous:<hash>``).
    """

    def __init__(self, connection, state=None, owner=None):
        if state is not None and state not in registry.STATES:
            raise ValueError(f"no such state: {state!r}")
        root = connection.root()
        self._processes = root.get(registry.ROOT_KEY) or {}
        self._ids = _ids(root, state, owner)
        self._length = None

    def __len__(self):
        if self._length is None:
            self._length = len(self._ids)
        return self._length

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        pid = self._ids[len(self) - 1 - index]  # the indexes are oldest first
        return self._processes.get(pid) or _Gone(pid)

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]


class _Gone:
    """A record removed since the list was read (fetched or expired meanwhile)."""

    def __init__(self, process_id):
        self.process_id = process_id


def is_gone(record):
    return isinstance(record, _Gone)


def _ids(root, state, owner):
    """The process ids, oldest first, as a sequence that BTrees read lazily."""
    if owner is not None:
        owners = root.get(registry.OWNERS_KEY)
        if owners is None:
            return ()
        ids = _Keys(owners.keys(min=(owner,), max=(owner, float("inf"))), 2)
        if state is None:
            return ids
        states = root.get(registry.STATES_KEY) or {}
        return [pid for pid in ids if (state, pid) in states]  # one owner's: a lookup each, no load
    if state is not None:
        states = root.get(registry.STATES_KEY)
        if states is None:
            return ()
        # (state, "") is the state's sentinel key, not a process
        return _Keys(states.keys(min=(state, ""), max=(state, "\uffff"), excludemin=True), 1)
    processes = root.get(registry.ROOT_KEY)
    return () if processes is None else processes.keys()


class _Keys:
    """The process ids of an index's keys (the ``at``-th part of each)."""

    def __init__(self, keys, at):
        self._keys, self._at = keys, at

    def __len__(self):
        return len(self._keys)

    def __getitem__(self, index):
        return self._keys[index][self._at]

    def __iter__(self):
        return (key[self._at] for key in self._keys)
