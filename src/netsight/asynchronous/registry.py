"""The process registry: one persistent record per process, in the ZODB.

The records live in a BTree under the ZODB root (not in any Zope folder, so
nothing on the web can reach them), keyed by process id, so that every Zope
instance sharing the database (ZEO, RelStorage) answers for every process.

Reading uses the caller's connection and never writes. The writes that must
not wait for the caller's transaction (state, progress, the one-shot fetch)
each run in a short transaction on a connection of their own, retried on
ConflictError: they never commit the half-done work of a job.
"""

from BTrees.OOBTree import OOBTree
from numbers import Real
from persistent import Persistent
from ZODB.POSException import ConflictError

import logging
import time
import transaction


logger = logging.getLogger("netsight.async")

ROOT_KEY = "netsight.async.processes"
ATTEMPTS = 5

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"


class ProcessRecord(Persistent):
    """What is known of one process; its methods are the only state changes."""

    progress = None
    message = None
    anonymous_key = None
    started = None
    finished = None
    error = None
    result = None

    def __init__(self, process_id, view_name, context_path, owner, anonymous_key=None):
        self.process_id = process_id
        self.view_name = view_name
        self.context_path = context_path
        self.owner = owner  # a user id, or None for an anonymous browser
        self.anonymous_key = anonymous_key  # that browser's secret, hashed
        self.state = QUEUED
        self.created = time.time()

    def start(self):
        self.state = RUNNING
        self.started = time.time()

    def report(self, progress, message=None):
        if self.state in (QUEUED, RUNNING):
            self.progress = progress
            if message is not None:
                self.message = message

    def finish(self, response):
        """``__run__`` returned and its transaction committed."""
        self.state = DONE
        self.finished = time.time()
        self.progress = 100 if is_number(self.progress) else True
        self.result = ProcessResult(response)

    def fail(self, error):
        self.state = FAILED
        self.finished = time.time()
        self.error = error


class ProcessResult(Persistent):
    """The response of a finished process, loaded only when it is fetched."""

    def __init__(self, response):
        self.response = response


def is_number(value):
    """A percentage, not a bool (True means done, not 1%)."""
    return isinstance(value, Real) and not isinstance(value, bool)


def normalize_progress(value):
    """A percentage rounded to one decimal, an int when whole."""
    if not is_number(value) or not 0 <= value <= 100:
        raise ValueError(f"progress must be a number from 0 to 100, not {value!r}")
    value = round(float(value), 1)
    return int(value) if value.is_integer() else value


def find(connection, process_id):
    """The record of ``process_id`` as ``connection`` sees it, or None."""
    processes = connection.root().get(ROOT_KEY)
    if processes is None:
        return None
    return processes.get(process_id)


def add(connection, record):
    """Store a new record; it is committed with ``connection``'s transaction."""
    root = connection.root()
    processes = root.get(ROOT_KEY)
    if processes is None:
        processes = root[ROOT_KEY] = OOBTree()
    processes[record.process_id] = record


def change(db, process_id, func):
    """Call ``func(record)`` and commit, in a transaction of its own.

    Returns what ``func`` returned, or None when there is no such record.
    """
    return _in_own_transaction(db, process_id, func)


def take(db, process_id):
    """Remove a finished process and return its response (one-shot).

    None if there is no such finished process: of two concurrent takers,
    exactly one gets the response.
    """

    def remove(record):
        if record.state != DONE:
            return None
        response = record.result.response
        del record._p_jar.root()[ROOT_KEY][process_id]
        return response

    return _in_own_transaction(db, process_id, remove)


def _in_own_transaction(db, process_id, func):
    for attempt in range(1, ATTEMPTS + 1):
        manager = transaction.TransactionManager()
        connection = db.open(transaction_manager=manager)
        try:
            manager.begin()
            record = find(connection, process_id)
            result = None if record is None else func(record)
            manager.commit()
            return result
        except ConflictError:
            manager.abort()
            if attempt == ATTEMPTS:
                raise
            logger.debug("Conflict writing process %s, retrying", process_id)
        except BaseException:
            manager.abort()
            raise
        finally:
            connection.close()
