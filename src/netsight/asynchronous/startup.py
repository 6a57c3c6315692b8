"""What an instance does as Zope starts: signal handlers, maintenance, taking jobs queued in the database."""

from netsight.asynchronous import capture
from netsight.asynchronous import claims
from netsight.asynchronous import registry
from netsight.asynchronous.instance import install_signal_handlers
from netsight.asynchronous.instance import MAINTENANCE

import logging


logger = logging.getLogger("netsight.async")


def maintain(db):
    """Heartbeat, housekeeping and claims of queued jobs for ``db`` (the main database)."""
    MAINTENANCE.claimer = claims.claim
    MAINTENANCE.watch(db)


def on_process_starting(event):
    """Zope started (in the main thread): signal handlers, maintenance of the
    main database, the captured files of a worker killed before, and the
    lists' indexes of a registry written by a version without them.

    It writes nothing to a database where no process was ever started (or
    all were removed): the maintenance thread only reads there too, until
    a first job."""
    install_signal_handlers()
    import Zope2

    db = getattr(Zope2, "DB", None)
    if db is not None:
        indexed = registry.in_own_transaction(db, registry.reindex_lists)  # before any other write
        if indexed:
            logger.info("netsight.async: indexed %d processes for the lists of processes", indexed)
        maintain(db)
        try:
            capture.remove_leftovers(db)
        except OSError:
            logger.warning("netsight.async: could not look for leftover captured files", exc_info=True)
