"""The lists of processes: a site's, newest first, filtered by state and owner, read lazily.

A ``Listing`` is a sequence of process records for ``plone.batching``. It
reads the registry's indexes of the site (process ids begin with their
creation time, so an index's last keys are the newest): its length comes
from the counts the registry keeps (an owner's, from that owner's keys),
and a batch near the newest end costs a descent of the index per record,
however many records there are; a batch deep in the list walks the index
from the nearer end. The state filter is the stored state: a running
process whose instance died reads *interrupted*
(``registry.effective_state``) but is listed as running until housekeeping
marks it. It only reads.
"""

from netsight.asynchronous import registry


class Listing:
    """The records of ``site`` (a site's path, ``owners.site_path``), newest first.

    ``state``: only those whose stored state it is (one of
    ``registry.STATES``); ``owner``: only those of that owner key
    (``registry.owner_key``: a user id, or ``anonymous:<hash>``).
    """

    def __init__(self, connection, site, state=None, owner=None):
        if state is not None and state not in registry.STATES:
            raise ValueError(f"no such state: {state!r}")
        root = connection.root()
        self._processes = root.get(registry.ROOT_KEY) or {}
        self._ids = _ids(root, site, state, owner)

    def __len__(self):
        return len(self._ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        try:
            pid = self._ids.newest(index)
        except IndexError:  # the index has fewer keys than its count (it changed meanwhile)
            return _Gone(None)
        return self._processes.get(pid) or _Gone(pid)

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]


class _Gone:
    """A record that an index still names but that is gone (removed meanwhile)."""

    def __init__(self, process_id):
        self.process_id = process_id


def is_gone(record):
    return isinstance(record, _Gone)


def _ids(root, site, state, owner):
    """The process ids of the list, as a ``_Range`` of one of the indexes."""
    if owner is not None:
        # (site, owner key, created, process id): newest by creation time
        mine = _Range(root.get(registry.OWNERS_KEY), (site, owner), (site, owner, float("inf")))
        if state is None:
            return mine
        states = root.get(registry.STATES_KEY) or {}
        return _Filtered(mine, lambda pid: (site, state, pid) in states)
    if state is not None:
        # (site, state, process id); (site, state, "") is the state's sentinel, not a process
        low, high = (site, state, ""), (site, state, "\uffff")
        return _Range(root.get(registry.STATES_KEY), low, high, registry.count(root, site, state))
    total = sum(registry.count(root, site, each) for each in registry.STATES)
    return _Range(root.get(registry.SITES_KEY), (site, ""), (site, "\uffff"), total)


class _Range:
    """The keys of ``index`` above ``low`` up to ``high``, as process ids (their
    last part): ``newest(i)``, the i-th from the end. ``counted``: their
    number if known (else counted once, walking them)."""

    def __init__(self, index, low, high, counted=None):
        self._index, self._low, self._high = index, low, high
        self._length = counted if index is not None else 0
        self._cursor = None  # (i, key): where the last look from the newest end stopped

    def __len__(self):
        if self._length is None:
            self._length = len(self._keys())
        return self._length

    def __iter__(self):  # oldest first
        return (key[-1] for key in self._keys()) if self._index is not None else iter(())

    def newest(self, index):
        """The process id ``index`` places from the newest."""
        length = len(self)
        if index > length // 2:  # nearer the oldest end: BTrees walk from there
            return self._keys()[length - 1 - index][-1]
        i, key = self._cursor if self._cursor is not None and self._cursor[0] <= index else (-1, None)
        while i < index:
            key = self._before(key)
            i += 1
        self._cursor = (i, key)
        return key[-1]

    def _keys(self):
        return self._index.keys(min=self._low, max=self._high, excludemin=True)

    def _before(self, key):
        """The last key of the range before ``key`` (its last key if None): one descent of the BTree."""
        bound = self._high if key is None else (*key[:-1], _just_below(key[-1]))
        try:
            found = self._index.maxKey(bound)
        except ValueError:  # no key at all up to the bound
            found = self._low
        if found <= self._low:
            raise IndexError("the index changed while it was read")
        return found


def _just_below(text):
    """A string above every string below ``text`` and below ``text`` itself."""
    return text[:-1] + chr(ord(text[-1]) - 1) + "\uffff" if text else ""


class _Filtered:
    """The ids of a ``_Range`` that ``keep`` accepts (an owner's by state: a lookup each, no load)."""

    def __init__(self, ids, keep):
        self._ids = [pid for pid in ids if keep(pid)]  # oldest first

    def __len__(self):
        return len(self._ids)

    def newest(self, index):
        return self._ids[len(self._ids) - 1 - index]
