"""Caps on anonymous starts: per client address, and all visitors' share of the queue.

An anonymous visitor owns its processes by a cookie (``owners.py``), and a
client that drops the cookie is a new owner at each start: the owner
cannot cap it. So an anonymous start is counted by its client address
(``client_address``): at most ``max-per-address`` active (queued or
running) anonymous processes per address in the whole cluster, counted
over the address's own persistent object (``addresses.py``), which every
start from that address writes: concurrent starts from one address
conflict, and Zope runs all but one of them again, which then count it.
And at most ``anonymous-queue-limit``
anonymous jobs waiting (in this instance's queue, or unclaimed in the
database, in the job's own named queue, for a front-end; a read only: starts from different addresses
do not conflict, so N at once may each pass it, N at most the instances'
server threads). A start beyond either is refused as a full
queue is: 503 with ``Retry-After``, nothing written, no cookie set. The
pool gives all anonymous jobs together ``anonymous-pool-size`` of its
threads (``pool.py``), and an anonymous process is forgotten
``anonymous-expiry`` seconds after it ended (``expiry``).

The record keeps its address as a keyed hash (``address_key``: HMAC-SHA256
with a random key kept in the registry's store, shared by every instance,
made with the store and removed with it), while it is
active only: enough for a worker's claim to apply the cap, with no
address written in clear.
"""

from AccessControl import getSecurityManager
from netsight.asynchronous import addresses
from netsight.asynchronous import queues
from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous import storage
from netsight.asynchronous.exceptions import QueueFullError
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.transactions import in_own_transaction

import hashlib
import hmac
import ipaddress
import logging
import time


logger = logging.getLogger("netsight.async")

KEY_ROOT_KEY = addresses.HMAC_KEY_KEY  # the HMAC key of address keys: the store's attribute
IPV6_PREFIX = 64  # an IPv6 client is its /64: one host usually holds a whole /64


def client_address(request):
    """The address of the client that sent ``request``.

    ``REMOTE_ADDR``, unless that peer is one of ``trusted-proxies``: then
    the right-most address of ``X-Forwarded-For`` that is not a trusted
    proxy (the one the nearest trusted proxy saw); the left-most if all are.
    An IPv6 address stands for its /64 network.
    """
    trusted = _networks(settings.get("trusted-proxies"))
    peer = _address(request.environ.get("REMOTE_ADDR", ""))
    if not _in(peer, trusted):
        return _client(peer)
    hops = [_address(hop) for hop in request.environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return _client(hop)
    return _client(hops[0] if hops else peer)


def address_key(address, db, root=None):
    """The keyed hash of ``address`` (as ``client_address`` gives it) that
    records keep; ``root``, a connection's root of ``db``, if at hand."""
    return hmac.new(_key(db, root), str(address).encode("utf-8"), hashlib.sha256).hexdigest()


def check_start(request, connection, runs_here, process_id, queue=None):
    """Refuse an anonymous start beyond its caps, else hold its place; returns
    its address key (None for a user, and nothing written).

    The start is refused (``QueueFullError``: 503, ``Retry-After``) when
    its address has ``max-per-address`` active processes already, or when
    ``anonymous-queue-limit`` anonymous jobs wait to start: in this
    instance's pool, or, on a front-end (``runs_here`` false), unclaimed in
    the database in the job's ``queue`` (None: the default one). Else ``process_id`` is added to its address's object
    (``addresses.hold``), in the request's transaction: a concurrent start
    from the same address conflicts.
    """
    if getSecurityManager().getUser().getId() is not None:
        return None
    key = address_key(client_address(request), connection.db(), connection.root())
    return check_address(request, connection, key, runs_here, process_id, queue)


def check_address(request, connection, key, runs_here, process_id, queue=None):
    """``check_start``'s caps and hold for the address key ``key``, whoever asks: a Retry of an anonymous
    visitor's process counts under the key its first attempt kept (retries.py). Returns ``key``."""
    root = connection.root()
    cap = settings.get("max-per-address")
    if cap and (active := active_of_address(connection, key)) >= cap:
        _refuse(request, f"Too many processes of this address are active ({active}); try again later.")
    limit = settings.get("anonymous-queue-limit")
    if limit:
        waiting = POOL.anonymous_queued() if runs_here else _unclaimed_anonymous(root, queue)
        if waiting >= limit:
            _refuse(request, f"Too many processes of visitors are waiting to start ({waiting}); try again later.")
    addresses.hold(root, key, process_id, lambda pid: registry.still_held(root, pid))
    return key


def active_of_address(connection, key):
    """How many active processes of the cluster have the address key ``key``
    (those of an instance that stopped or died not counted; a start whose
    record is being added counted: ``addresses.being_added``)."""
    root = connection.root()
    timeout = settings.get("heartbeat-timeout")
    count = 0
    now = time.time()
    for pid in addresses.process_ids(root, key):
        record = registry.find(connection, pid)
        if record is None and addresses.being_added(pid, now):
            count += 1
        elif (
            record is not None
            and record.state in registry.ACTIVE
            and record.address_key == key
            and not registry.orphaned(connection, record, timeout)
        ):
            count += 1
    return count


def expiry(site_expiry):
    """How long an anonymous visitor's ended process is kept: ``anonymous-expiry``,
    at most the site's expiry (``site_expiry``, None: the expiry setting)."""
    longest = settings.get("expiry") if site_expiry is None else site_expiry
    return min(settings.get("anonymous-expiry"), longest)


def record_address(record):
    """The address key a job of ``record`` counts under in a pool: None for a
    user's; "" for an anonymous one without (a record of an older version)."""
    return None if record.owner is not None else (record.address_key or "")


def _unclaimed_anonymous(root, queue):
    """How many anonymous jobs of ``queue`` (None: the default one) wait unclaimed: its own queue's walked only."""
    return sum(1 for record in registry.unclaimed(root, frozenset({queues.name_of(queue)})) if record.owner is None)


def _refuse(request, message):
    request.response.setHeader("Retry-After", str(QueueFullError.retry_after))
    raise QueueFullError(message)


def _key(db, root=None):
    """The HMAC key: read in ``root``'s store (no cache: the registry's removal
    takes it away), the store made there, in ``root``'s transaction, at its
    first need (a start's: it writes the store anyway; made in a transaction
    of its own, the store would make the start's write of the root conflict
    and Zope run the start again after a pause of up to a second); without
    ``root``, in a transaction of its own."""
    return _key_in(root) if root is not None else in_own_transaction(db, _key_in)


def _key_in(root):
    """The database's HMAC key of addresses; the store made, with it, at its first need."""
    return getattr(storage.made(root), KEY_ROOT_KEY)


def _address(text):
    """An address as ``ipaddress`` reads it (IPv4-mapped IPv6 as IPv4), else its text."""
    text = text.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _client(address):
    """What a client counts as: an IPv4 address, an IPv6 /64, or the peer's text."""
    if isinstance(address, ipaddress.IPv6Address):
        return ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False)
    return address


def _networks(text):
    networks = []
    for item in text.split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            logger.warning("netsight.async: trusted-proxies: %r is not an address or a network; ignored", item)
    return networks


def _in(address, networks):
    return not isinstance(address, str) and any(address in network for network in networks)
