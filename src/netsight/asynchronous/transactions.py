"""Short transactions of their own, retried on ConflictError.

A write that must not wait for the caller's transaction, nor be undone
with it (a job's state and progress, a heartbeat, the fetch of a result, a
captured blob), runs here: on a connection of its own, with a transaction
manager of its own, so that it never commits the half-done work of a job
or of a request. The registry's ``change`` and ``take`` use it; so do
``capture.py`` (a big body's blob) and the maintenance thread.
"""

from transaction.interfaces import TransientError

import logging
import random
import time
import transaction


logger = logging.getLogger("netsight.async")

ATTEMPTS = 50  # of a short transaction that meets ConflictErrors (about 40 s at most)
BACKOFF = 0.005  # seconds: the first retry's longest wait; doubled at each, up to 1 s


def in_own_transaction(db, func, attempts=None):
    """``func(root)`` in a short transaction on a connection of its own to ``db``.

    :param db: the database (a ``ZODB.DB``), not a connection: the
        connection is opened here and closed before any pause.
    :param func: called with the connection's root; what it returns is returned.
    :param attempts: how many times in all (``ATTEMPTS`` by default).
    :returns: what ``func`` returned in the attempt that committed.

    Retried, with a growing random pause (as Zope's ``delay_retry``), on a
    ConflictError or another transient error (a ZEO server out of reach
    for a moment); the last attempt's error is raised. Any other exception
    aborts and is raised at once.
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
            logger.debug("Conflict in a short transaction of netsight.async, retrying")
        except BaseException:
            manager.abort()
            raise
        finally:
            connection.close()
        time.sleep(random.uniform(0, min(1.0, BACKOFF * 2**attempt)))  # holding no connection
