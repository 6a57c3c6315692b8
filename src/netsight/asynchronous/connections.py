"""The main database's connections of a request: the application's, a fresh one, one caught up with its server.

The process registry lives in the main database (the Zope application's),
even when a page's context lives in a mounted one. A request reads it
through the application's connection; when it must see what another
transaction committed after the request began (a cancel it just made, a
record another instance just added), through a new connection of its own,
which is closed when the request ends (``IEndRequestEvent``: see
configure.zcml), by Zope's public event rather than by garbage collection.
"""

from Acquisition import aq_chain
from Acquisition import aq_inner

import transaction


OPENED = "netsight.async.connections"  # the request's own connections, in ``request.other``


def app_connection(request, context=None):
    """The main database's connection: the Zope application's of ``request``.

    Where the request has no published application (yet), the root-most
    connection of ``context``'s acquisition chain: the main database's too,
    even when ``context`` lives in a mounted one.
    """
    parents = request.get("PARENTS") or ()
    chain = aq_chain(aq_inner(context)) if context is not None else ()
    jars = [getattr(obj, "_p_jar", None) for obj in (*chain, *parents[-1:])]
    jars = [jar for jar in jars if jar is not None]
    return jars[-1]


def new_connection(request, db):
    """A new connection of ``db``, which sees what was committed up to now; closed when ``request`` ends."""
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    request.other.setdefault(OPENED, []).append((connection, manager))
    return connection


def caught_up(request, connection):
    """A new connection (closed with ``request``) that sees all that the
    storage's server committed before this call, for a storage with a server
    (ZEO, RelStorage's ``ping``: one round trip); None for one without (FileStorage)."""
    ping = getattr(connection.db().storage, "ping", None)
    if ping is None:
        return None
    ping()
    return new_connection(request, connection.db())


def close_opened(event):
    """Close the connections that ``new_connection`` opened for the request that ends (``IEndRequestEvent``)."""
    request = event.request
    other = getattr(request, "other", None)
    opened = other.pop(OPENED, ()) if isinstance(other, dict) else ()
    for connection, manager in opened:
        manager.abort()
        connection.close()
