"""What an instance does as Zope starts: signal handlers, maintenance, taking jobs queued in the database."""

from netsight.asynchronous import capture
from netsight.asynchronous import claims
from netsight.asynchronous import registry
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.signals import install_signal_handlers
from netsight.asynchronous.transactions import in_own_transaction

import logging


logger = logging.getLogger("netsight.async")


def maintain(db):
    """Heartbeat, housekeeping and claims of queued jobs for ``db`` (the main database)."""
    MAINTENANCE.claimer = claims.claim_queued
    MAINTENANCE.watch(db)


def prepare_registry(db):
    """The registry of ``db`` (the main database) made one this version reads,
    in a transaction of its own (``registry.prepare``), and said in the log."""
    moved, indexed = in_own_transaction(db, registry.prepare)
    if moved is not None:
        logger.info("netsight.async: moved the registry's %d processes into one key, %r", moved, registry.ROOT_KEY)
    if indexed:
        logger.info("netsight.async: indexed %d processes for the lists of processes", indexed)


def on_process_starting(event):
    """Zope started (in the main thread): signal handlers, maintenance of the
    main database, the captured files of a worker killed before, and the
    registry made one this version reads (``registry.prepare``: a registry
    of the root keys before the store moved into one, the lists' indexes of
    a version without them built).

    It writes nothing to a database where no process was ever started (or
    all were removed): the maintenance thread only reads there too, until
    a first job."""
    install_signal_handlers()
    import Zope2

    db = getattr(Zope2, "DB", None)
    if db is not None:
        prepare_registry(db)  # before any other write
        maintain(db)
        try:
            capture.remove_leftovers(db)
        except OSError:
            logger.warning("netsight.async: could not look for leftover captured files", exc_info=True)
