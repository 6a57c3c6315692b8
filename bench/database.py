"""The benchmark's own ZEO client: a record's times, the transactions committed since a point, done records written directly.

It opens the main database (storage "1") of the benchmark's ZEO server
beside the instance, as any other ZEO client would, and uses the package's
registry API: ``registry.find`` to read a record, ``registry.add`` and
``registry.change_in`` (``ProcessRecord.start`` and ``finish`` with a
``replay.CapturedResponse``) to write finished, unfetched records in
batches, as if jobs had ended a moment ago.
"""

from persistent.mapping import PersistentMapping
from ZODB.utils import get_pickle_metadata
from ZODB.utils import p64
from ZODB.utils import u64

from netsight.asynchronous import registry
from netsight.asynchronous.replay import CapturedResponse

import time
import transaction
import ZEO
import ZODB


FILLER = "bench-filler"  # the instance id of the records written directly
HEARTBEAT = "netsight.asynchronous.registry.InstanceRecord"
BATCH = 5000  # records per transaction when filling
COUNTER = "netsight.async.bench"  # the root key of the object commit_seconds changes


class Transaction:
    """A committed transaction: its id, the classes of its objects, the bytes of their pickles."""

    def __init__(self, tid, classes, data_bytes):
        self.tid = tid
        self.classes = classes
        self.data_bytes = data_bytes

    @property
    def heartbeat(self):
        """Whether it wrote an instance's heartbeat only."""
        return self.classes == [HEARTBEAT]


class Database:
    """A ZEO client of the main database at ``address`` (host, port)."""

    def __init__(self, address):
        self.storage = ZEO.client(address, storage="1", wait_timeout=60)
        self.db = ZODB.DB(self.storage)

    def close(self):
        self.db.close()

    def last_tid(self):
        """The id of the last transaction the server committed."""
        self.storage.ping()  # the invalidations (and lastTransaction) of what came before
        return self.storage.lastTransaction()

    def transactions_since(self, tid):
        """The transactions committed after ``tid``: a list of Transaction."""
        found = []
        for txn in self.storage.iterator(p64(u64(tid) + 1)):
            classes, size = [], 0
            for record in txn:
                if record.data:
                    module, name = get_pickle_metadata(record.data)
                    classes.append(f"{module}.{name}")
                    size += len(record.data)
            found.append(Transaction(txn.tid, classes, size))
        return found

    def commit_seconds(self):
        """Seconds to commit one small change from this client: a counter of its own, in the root."""
        began = time.perf_counter()
        self._write(_count)
        return time.perf_counter() - began

    def record_times(self, process_id):
        """``(state, started, finished)`` of a process as the server recorded them, or None."""
        return self._read(lambda connection: _times(registry.find(connection, process_id)))

    def record_run(self, process_id):
        """``(run_after, started)`` of a process (when it was due, if it was scheduled; when it began to run), or None."""
        return self._read(lambda connection: _run(registry.find(connection, process_id)))

    def record_error(self, process_id):
        """``(state, error)`` of a process, or None."""

        def look(connection):
            record = registry.find(connection, process_id)
            return None if record is None else (record.state, record.error)

        return self._read(look)

    def count(self):
        """How many process records the registry holds."""
        return self._read(lambda connection: len(connection.root().get(registry.ROOT_KEY) or ()))

    def holds(self, process_ids):
        """Which of ``process_ids`` still hold a result in the registry (a shown
        one-shot result's record stays, without it, until its expiry)."""

        def look(connection):
            processes = connection.root().get(registry.ROOT_KEY) or {}
            return [pid for pid in process_ids if pid in processes and processes[pid].result is not None]

        return self._read(look)

    def fill(self, target, view_name, context_path, owner, batch=BATCH):
        """Add done, unfetched records (finished now) until the registry holds ``target``.

        Returns the seconds it took.
        """
        began = time.perf_counter()
        missing = target - self.count()
        while missing > 0:
            size = min(batch, missing)
            self._write(lambda connection, size=size: _add_done(connection, size, view_name, context_path, owner))
            missing -= size
        return time.perf_counter() - began

    def _read(self, func):
        """``func(connection)`` on a connection that sees the last committed state; nothing is written."""
        self.storage.ping()
        manager = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        try:
            manager.begin()
            return func(connection)
        finally:
            manager.abort()
            connection.close()

    def _write(self, func):
        """``func(connection)`` in a transaction of its own, committed."""
        manager = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        try:
            manager.begin()
            func(connection)
            manager.commit()
        except BaseException:
            manager.abort()
            raise
        finally:
            connection.close()


def _count(connection):
    """Add one to the benchmark's counter (made once; then only it is written)."""
    root = connection.root()
    counter = root.get(COUNTER)
    if counter is None:
        counter = root[COUNTER] = PersistentMapping()
    counter["commits"] = counter.get("commits", 0) + 1


def _run(record):
    return None if record is None else (record.run_after, record.started)


def _times(record):
    return None if record is None else (record.state, record.started, record.finished)


def _add_done(connection, count, view_name, context_path, owner):
    """``count`` new records, each queued, started and finished with a small response."""
    root = connection.root()
    for ticket in range(count):
        process_id = registry.new_process_id()  # as a start draws it
        record = registry.ProcessRecord(
            process_id, view_name=view_name, context_path=context_path, owner=owner, site=context_path  # the site's
        )
        registry.add(connection, record, FILLER, ticket)
        response = CapturedResponse(
            status=200,
            reason="OK",
            headers={"content-type": "text/plain; charset=utf-8"},
            accumulated_headers=[],
            cookies={},
            body=b"done",
        )
        registry.change_in(root, process_id, lambda record: record.start(FILLER) and record.finish(response))
