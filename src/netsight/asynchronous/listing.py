"""The lists of processes: a site's, newest first, filtered by state and owner, read lazily.

A ``Listing`` is a sequence of process records for ``plone.batching``.
Process ids begin with their creation time, so every index of the registry
is oldest first by its last part. The active processes (queued, running)
are few: they come from the active index, each record read. The ended ones
may be many: they come from the states index of the site, whose counts
give the length at once; a batch near the newest end costs a descent of
the index per record, however many there are, and a batch deep in the
list walks it from the nearer end. An owner's processes come from the
owners index. The state filter is the stored state: a running process
whose instance died reads *interrupted* (``registry.effective_state``) but
is listed as running until housekeeping marks it. The queue filter (a
view's ``queue``, queues.py) has no index of its own: it reads each record
of the list it narrows (the active ones are read anyway; with a state or an
owner, only theirs). ``queue_names`` says which queues the database knows
of, for the filter to offer. It only reads.
"""

from netsight.asynchronous import queues
from netsight.asynchronous import registry

import heapq


WINDOW = 200  # ids read at once when a merged list is walked from its oldest end
ANY = object()  # no queue filter (None is the default queue's)


class Listing:
    """The records of ``site`` (a site's path, ``owners.site_path``), newest first.

    ``state``: only those whose stored state it is (one of
    ``registry.STATES``); ``owner``: only those of that owner key
    (``registry.owner_key``: a user id, or ``anonymous:<hash>``); ``queue``:
    only those of that queue (a name; None: the default queue; ``ANY``: every one).
    """

    def __init__(self, connection, site, state=None, owner=None, queue=ANY):
        if state is not None and state not in registry.STATES:
            raise ValueError(f"no such state: {state!r}")
        root = connection.root()
        self._processes = root.get(registry.ROOT_KEY) or {}
        self._ids = _ids(root, self._processes, site, state, owner)
        if queue is not ANY:  # no index by queue: each record of the list is read
            processes = self._processes
            self._ids = _Ids([pid for pid in self._ids if getattr(processes.get(pid), "queue", None) == queue])

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
        except IndexError:  # an index has fewer keys than its count (it changed meanwhile)
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


def _ids(root, processes, site, state, owner):
    """The process ids of the list: a sequence with ``len`` and ``newest(i)``."""
    if owner is not None:
        # (site, owner key, created, process id): by creation time
        mine = _Range(registry.index(root, registry.OWNERS_KEY), (site, owner), (site, owner, float("inf")))
        if state is None:
            return mine
        if state in registry.ENDED:
            states = registry.index(root, registry.STATES_KEY) or {}
            return _Ids([pid for pid in mine if (site, state, pid) in states])  # a lookup each, no load
        active = _active(root, processes, site)
        return _Ids([pid for pid in mine if active.get(pid) == state])
    if state in registry.ENDED:
        return _ended(root, site, state)
    active = _active(root, processes, site)
    if state is not None:
        return _Ids(sorted(pid for pid, its_state in active.items() if its_state == state))
    return _Merged([_Ids(sorted(active)), *(_ended(root, site, ended) for ended in registry.ENDED)])


def queue_names(connection, site, timeout):
    """The names of the queues the database knows of (``queues.DEFAULT`` for the default one): those the
    live instances serve (their heartbeats within ``timeout`` seconds), those of jobs waiting for any
    instance, and those of ``site``'s scheduled, queued and running processes; a read of few records."""
    root = connection.root()
    names = set(registry.waiting_queues(root))
    for served in registry.served_queues(root, timeout).values():
        names.update(served or ())  # None: every queue, named by none
    processes = root.get(registry.ROOT_KEY) or {}
    names.update(queues.name_of(getattr(processes.get(pid), "queue", None)) for pid in _active(root, processes, site))
    return names


def _ended(root, site, state):
    """The ids of ``site``'s processes that ended in ``state``."""
    # (site, state, process id); (site, state, "") is the state's sentinel, not a process
    low, high = (site, state, ""), (site, state, "\uffff")
    return _Range(registry.index(root, registry.STATES_KEY), low, high, registry.count(root, site, state))


def _active(root, processes, site):
    """``{process id: stored state}`` of ``site``'s queued and running processes (few: each read)."""
    found = {}
    for pid in registry.active_ids(root):
        record = processes.get(pid)
        if record is not None and record.site == site and record.state in registry.ACTIVE:
            found[pid] = record.state
    return found


class _Ids:
    """Ids in a list, oldest first."""

    def __init__(self, ids):
        self._ids = ids

    def __len__(self):
        return len(self._ids)

    def __iter__(self):
        return iter(self._ids)

    def from_newest(self):
        return reversed(self._ids)

    def newest(self, index):
        return self._ids[len(self._ids) - 1 - index]


class _Range:
    """The keys of ``index`` above ``low`` up to ``high``, as process ids (their
    last part), oldest first. ``counted``: their number if known (else counted
    once, walking them)."""

    def __init__(self, index, low, high, counted=None):
        self._index, self._low, self._high = index, low, high
        self._length = counted if index is not None else 0
        self._cursor = None  # (i, key): where the last look from the newest end stopped
        self._items = None  # the keys as BTrees read them from the oldest end (they keep their place)

    def __len__(self):
        if self._length is None:
            self._length = len(self._keys())
        return self._length

    def __iter__(self):
        return (key[-1] for key in self._keys()) if self._index is not None else iter(())

    def from_newest(self):
        key = None
        for _ in range(len(self)):
            key = self._before(key)
            yield key[-1]

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
        if self._items is None:
            self._items = self._index.keys(min=self._low, max=self._high, excludemin=True)
        return self._items

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


def newest_of_owner(connection, site, owner, since):
    """The records of ``owner`` (an owner key) in ``site`` created after
    ``since``, newest first, lazily: one descent of the owners' index each,
    however many the owner has (no ``len()`` of the owner's range)."""
    root = connection.root()
    index, processes = registry.index(root, registry.OWNERS_KEY), root.get(registry.ROOT_KEY)
    if index is None or processes is None:
        return
    # (site, owner key, created, process id)
    for key in newest_keys(index, (site, owner, since), (site, owner, float("inf"))):
        record = processes.get(key[-1])
        if record is not None:
            yield record


def newest_keys(index, low, high):
    """The keys of ``index`` above ``low`` up to ``high``, newest (greatest)
    first, lazily: one descent of the BTree each, however many there are."""
    key = None
    while True:
        bound = high if key is None else (*key[:-1], _just_below(key[-1]))
        try:
            key = index.maxKey(bound)
        except ValueError:  # no key at all up to the bound
            return
        if key <= low:
            return
        yield key


def _just_below(text):
    """A string above every string below ``text`` and below ``text`` itself."""
    return text[:-1] + chr(ord(text[-1]) - 1) + "\uffff" if text else ""


class _Merged:
    """The ids of several sources (``_Ids``, ``_Range``) in one order, newest
    first; read from the nearer end, as far as the index asked for."""

    def __init__(self, sources):
        self._sources = sources
        self._length = sum(len(source) for source in sources)
        self._walk = None  # the walk from the newest end: a generator of ids
        self._walked = []  # the ids it gave, newest first
        self._window = None  # (i of its first, ids): some ids near the oldest end, oldest first

    def __len__(self):
        return self._length

    def __iter__(self):
        """The ids, oldest first."""
        return heapq.merge(*self._sources)

    def newest(self, index):
        if index <= self._length // 2:
            return self._from_newest(index)
        return self._from_oldest(self._length - 1 - index)

    def _from_newest(self, index):
        if self._walk is None:
            self._walk = heapq.merge(*(source.from_newest() for source in self._sources), reverse=True)
        while len(self._walked) <= index:
            pid = next(self._walk, None)
            if pid is None:
                raise IndexError(index)
            self._walked.append(pid)
        return self._walked[index]

    def _from_oldest(self, index):
        """The id ``index`` places from the oldest: a window of ids around it is kept, since
        a batch asks for the ids of its page one after the other, newest first."""
        if self._window is not None and self._window[0] <= index < self._window[0] + len(self._window[1]):
            first, ids = self._window
            return ids[index - first]
        first = max(0, index - WINDOW + 1)
        merged = heapq.merge(*self._sources)
        ids = [pid for i, pid in zip(range(index + 1), merged) if i >= first]
        if len(ids) != index + 1 - first:
            raise IndexError(index)
        self._window = (first, ids)
        return ids[-1]
