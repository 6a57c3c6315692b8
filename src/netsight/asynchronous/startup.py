"""What an instance does as Zope starts: signal handlers, maintenance, taking jobs queued in the database."""

from netsight.asynchronous import claims
from netsight.asynchronous.instance import install_signal_handlers
from netsight.asynchronous.instance import MAINTENANCE


def maintain(db):
    """Heartbeat, housekeeping and claims of queued jobs for ``db`` (the main database)."""
    MAINTENANCE.claimer = claims.claim
    MAINTENANCE.watch(db)


def on_process_starting(event):
    """Zope started (in the main thread): signal handlers, and maintenance of the main database."""
    install_signal_handlers()
    import Zope2

    db = getattr(Zope2, "DB", None)
    if db is not None:
        maintain(db)
