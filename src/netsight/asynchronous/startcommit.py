"""A start's record, added once its request has committed: in a short transaction of its own, before the answer leaves.

Every start adds to the last buckets of the same time-ordered trees: the
records, its owner's list, its instance's active jobs or the unclaimed
queue. Two starts that overlap conflict when one of them splits such a
bucket (BTrees merge two adds to a bucket, not an add to a bucket that
the other split). In the request's transaction the overlap is the whole
request, and Zope's retry is the whole request again: in a burst of 1,000
starts on two cores, a start met a conflict at each of Zope's three
retries and answered 500 in about half the runs (docs/performance.rst,
"The starts' conflicts"). Here the record is added right after the
request commits, in a short transaction that waits for this instance's
other starts (``transactions.WRITER``): it reads the trees as the start
before it left them, so that the starts of one instance never conflict
with one another, and one that meets another instance's write is
retried alone, in milliseconds, not with its request. The starts that
wait for ``WRITER`` at the same moment are added together, in one
transaction (``transactions._together``, with whatever else of the
worker waits then): a burst's starts waited for one
another's commits (in a profile of 1,000 starts on one ZEO instance, the
request threads spent 62 to 70 % of their time waiting for their turn); a
group whose transaction fails (a conflict with another instance, one
start's error) is added again start by start, each retried alone.

What stays as it was: the job sees everything its request committed (its
record appears after), nothing is written for a request that does not
commit, and the record is committed before the answer leaves (the hook
runs within the publisher's commit, before the response is finalized: the
303 or 202 names a process that exists). A record that cannot be added
(a storage error, or ``transactions.ATTEMPTS`` conflicts) turns the
answer into a 503 with ``Retry-After``, logged as an error; the request's
own writes stay committed.

An only-once start (``dedupe_key``) is added in the request's transaction
as before (``registry.add``): two starts of one key must conflict. An
anonymous visitor's start holds its id in its address's object in the
request's transaction (``anonymous.check_start``: two starts of one address
conflict), and its record is added here; for that moment the held id
counts as active without a record (``addresses.being_added``), and a
record not added lets go of it. The request's own writes are committed
whether the record is added or not: a view that writes before it starts
its job sees them done after a 503 too.
"""

from netsight.asynchronous import addresses
from netsight.asynchronous import registry
from netsight.asynchronous.transactions import in_own_transaction

import json
import logging


logger = logging.getLogger("netsight.async")

RETRY_AFTER = 5  # seconds: the Retry-After of the 503 of a record not added
NOT_ADDED = "The process could not be started (the database was too busy); try again in a moment."


def add_after_commit(txn, db, record, instance, ticket, title=None, stored=None, response=None, then=None):
    """Add ``record`` to the registry of ``db`` as ``registry.add`` does, once ``txn`` has committed.

    :param record: a new ``ProcessRecord`` of no connection, a template:
        each attempt adds a copy of it (an attempt that conflicted leaves
        its objects bound to its aborted connection).
    :param stored: the record's kept request (``Job.stored``), added to the
        request's connection: committed with the request (its blob too, a
        copy of the body made outside ``WRITER``), and taken by its oid; None: none.
    :param response: the answer that becomes a 503 if the record cannot be added.
    :param then: ``then(added)``, called after the attempt, whether the record was
        added (the job goes to the pool, or its body is closed); ``then(False)``
        when ``txn`` fails to commit.
    """
    txn.addAfterCommitHook(_add_if_committed, args=(db, record, instance, ticket, title, stored, response, then))


def _add_if_committed(committed, db, record, instance, ticket, title, stored, response, then):
    if not committed:
        if then is not None:
            then(False)
        return
    added = False
    try:
        in_own_transaction(db, lambda root: _add(root, record, instance, ticket, title, stored), alone=True)
        added = True
    except Exception:  # hooks swallow exceptions: log it, and say so in the answer
        logger.exception("netsight.async: the record of process %s could not be added; its start answers 503", record.process_id)
        _release_hold(db, record)
        if response is not None:
            _not_added(response)
    finally:
        if then is not None:
            then(added)


def _add(root, template, instance, ticket, title, stored):
    record = copy_of(template)
    connection = root._p_jar
    if stored is not None:
        record.request = connection.get(stored._p_oid)
    if record.address_key is not None and record.process_id not in addresses.process_ids(root, record.address_key):
        # Held by its request, and dropped since by a start of its address: it
        # waited longer than ``addresses.ADDING``. Held again, so that it counts.
        addresses.hold(root, record.address_key, record.process_id, lambda pid: True)
    registry.add(connection, record, instance, ticket, title)


def _release_hold(db, record):
    """An anonymous start whose record was not added lets go of its address's hold (its request wrote it)."""
    if record.address_key is None:
        return
    try:
        in_own_transaction(db, lambda root: addresses.release(root, record.address_key, record.process_id))
    except Exception:
        logger.exception("netsight.async: the hold of process %s on its address could not be released", record.process_id)


def copy_of(record):
    """A copy of ``record``, a persistent object of no connection (its attributes, not its sub-objects' copies)."""
    copy = type(record).__new__(type(record))
    copy.__setstate__(dict(record.__getstate__()))
    return copy


def _not_added(response):
    """The start's answer (a 303, a 202 with JSON) becomes a 503 without a process."""
    wants_json = (response.getHeader("Content-Type") or "").startswith("application/json")
    response.setStatus(503)
    response.setHeader("Retry-After", str(RETRY_AFTER))
    response.headers.pop("location", None)  # Zope keeps the headers' names in lower case
    if wants_json:
        response.setBody(json.dumps({"error": NOT_ADDED}))
    else:
        response.setHeader("Content-Type", "text/plain; charset=utf-8")
        response.setBody(NOT_ADDED)
