"""Whose a process is: the user who started it, or an anonymous browser.

An authenticated user owns a process by user id. An anonymous browser owns
it by a random secret that the starting response sets in a cookie
(HttpOnly, SameSite=Lax, path limited to the site); the record keeps only
the secret's SHA-256, so the database holds nothing that opens it.

A process belongs to the site it was started in (``site_path``): lists
show a site's own. Besides its owner, those who run that site see every
process of it: the users who hold the add-on's permission "netsight.async:
Manage processes" *on the site itself*, which Manager and Site
Administrator have (the ZCML's default roles, and the profile's
rolemap.xml), by the roles they hold on the site (granted there, in the
Zope root, or globally). The site is the one that *contains* the process
(the path its record keeps), found from the Zope application root: never
an object the URL leads to. A permission checked on the context is not
enough, nor one on the last site traversed (``getSite()``): the URL lets
the requester choose both (``/A/B/doc`` reaches A's ``doc`` through a
sibling site B, by acquisition), and Plone grants its Owner role (what
every member holds on what they added) permissions such as "View
management screens".
"""

from AccessControl import getSecurityManager
from Acquisition import aq_chain
from zope.component.hooks import getSite

import hashlib
import hmac
import re
import secrets


try:
    from plone.base.interfaces import IPloneSiteRoot
except ImportError:  # plain Zope
    IPloneSiteRoot = None


MANAGE_PROCESSES = "netsight.async: Manage processes"  # permissions.zcml: netsight.async.ManageProcesses
COOKIE = "netsight_async_owner"
SECRET = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
NEW_SECRET = "netsight.async.new_owner_secret"  # in request.other: the secret made for this browser in this request


def owner_of(request):
    """``(user id, None)`` for a user; ``(None, secret's hash)`` for an anonymous browser.

    An anonymous browser without a secret gets one, given in a cookie of the
    response only once its start is accepted (``give_secret``): a refused
    start sets no cookie.
    """
    user_id = getSecurityManager().getUser().getId()
    if user_id is not None:
        return user_id, None
    secret = _secret(request)
    if secret is None:
        secret = request.other[NEW_SECRET] = secrets.token_urlsafe(32)
    return None, _hash(secret)


def give_secret(request):
    """Set the cookie of the secret that ``owner_of`` made for this anonymous browser, if it made one.

    The secret stays the request's: a second start in the same request (a
    view that calls ``_run`` twice) is the same browser's, and sets the same
    cookie again (the response keeps one of a name)."""
    secret = request.other.get(NEW_SECRET)
    if secret is None:
        return
    site = getSite()
    request.response.setCookie(
        COOKIE,
        secret,
        path=site.absolute_url_path() if hasattr(site, "absolute_url_path") else "/",
        http_only=True,
        same_site="Lax",
        secure=request.get("SERVER_URL", "").startswith("https:"),
    )


def owns(record, request):
    """Whether the request comes from the process's owner: its user, or the anonymous browser with its secret."""
    if record.owner is not None:
        return getSecurityManager().getUser().getId() == record.owner
    secret = _secret(request)
    return secret is not None and hmac.compare_digest(_hash(secret), record.anonymous_key or "")


def is_manager(request, site):
    """Whether the user runs the Plone site at the path ``site`` (a record's
    ``site``, or ``site_path`` of a list's context): holds "netsight.async:
    Manage processes" on it (Manager and Site Administrator do).

    The permission is checked on the site found from the Zope application
    root by its path (``site_object``), with the roles the user holds there
    (granted on it, in the Zope root, or globally), never on an object the
    URL acquired, nor below the site, where a local role could give it.
    "" (plain Zope, a process of no Plone site) is the Zope root's.
    """
    found = site_object(request, site)
    if found is None:
        return False
    return bool(getSecurityManager().getUser().has_permission(MANAGE_PROCESSES, found))


def site_object(request, site):
    """The Plone site at the path ``site``, found from the request's Zope
    application root by containment (no acquisition decides); the root
    itself for "", and for a path where no Plone site is any more (only the
    Zope root's managers manage its processes then); None without a root.
    """
    parents = request.get("PARENTS") or ()
    root = parents[-1] if parents else None
    if root is None or not hasattr(root, "unrestrictedTraverse"):
        return None
    if not site:
        return root
    found = root.unrestrictedTraverse(site.split("/")[1:], None)  # a ConflictError still raises
    if (
        found is None
        or IPloneSiteRoot is None
        or not IPloneSiteRoot.providedBy(found)
        or "/".join(found.getPhysicalPath()) != site  # acquired from elsewhere: not the site of that path
    ):
        return root
    return found


def site_path(obj):
    """The path of the Plone site that contains ``obj`` (the nearest one
    above it, by containment, whatever URL acquired it); "" outside any,
    and in plain Zope.

    A process belongs to the site it was started in: the lists of processes
    of a site show only its own, also where one database holds several.
    """
    site = plone_site(obj)
    return "" if site is None else "/".join(site.getPhysicalPath())


def plone_site(obj):
    """The Plone site that contains ``obj`` (the nearest one above it, by containment); None outside any, and in plain Zope."""
    if IPloneSiteRoot is None:
        return None
    for item in aq_chain(obj, True):  # containment: /A/B/doc acquired through A is B's
        if IPloneSiteRoot.providedBy(item):
            return item
    return None


def caller_key(request):
    """The requester's owner key (``registry.owner_key``): the user id, or
    the anonymous browser's hashed secret; None for a browser without one."""
    user_id = getSecurityManager().getUser().getId()
    if user_id is not None:
        return user_id
    secret = anonymous_key(request)
    return None if secret is None else f"anonymous:{secret}"


def anonymous_key(request):
    """The hashed secret of this anonymous browser (as records keep it), or None."""
    secret = _secret(request)
    return None if secret is None else _hash(secret)


def _secret(request):
    """The browser's secret: its cookie's, or the one ``owner_of`` made for it in this request; None."""
    for secret in (request.cookies.get(COOKIE), request.other.get(NEW_SECRET)):
        if isinstance(secret, str) and SECRET.fullmatch(secret):
            return secret
    return None


def _hash(secret):
    return hashlib.sha256(secret.encode("ascii")).hexdigest()
