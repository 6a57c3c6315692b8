"""CSRF: a process starts as plone.protect lets a request write.

A logged-in user's start writes (the process record), so in Plone it must
carry the ``_authenticator`` token (or the ``X-CSRF-TOKEN`` header), as
every request of a user that changes something. It is checked before
anything is written, so that a start without it gets a clear 403 page
rather than plone.protect aborting the start behind the redirect.

An anonymous visitor's start needs no token, as plone.protect requires
none of anonymous writes (it adds no token to their forms, so a 1.x form
could never carry one). It is refused only when the browser says that it
comes from another site (``Origin`` of another origin, or
``Sec-Fetch-Site: cross-site``), so that another site cannot make visitors'
browsers start jobs or replace their ownership cookie; a request without
these headers (an older browser, a script) is accepted.

The job then runs with the protection satisfied: its writes are
legitimate, since its start was checked, even if the token has expired by
the time the job writes. Plain Zope, without plone.protect or its key
manager, has no token to check.
"""

from AccessControl import getSecurityManager
from urllib.parse import urlsplit
from zExceptions import Forbidden
from zope.component import getMultiAdapter
from zope.component import queryUtility
from zope.interface import alsoProvides
from zope.interface import directlyProvides
from zope.interface.declarations import Implements
from zope.interface.interface import InterfaceClass

from netsight.asynchronous import tokens


try:
    from plone.keyring.interfaces import IKeyManager
    from plone.protect.authenticator import check
    from plone.protect.authenticator import createToken
    from plone.protect.interfaces import IDisableCSRFProtection
except ImportError:  # plain Zope
    IKeyManager = None


DEFAULT_PORTS = {"http": 80, "https": 443}


def _protected():
    return IKeyManager is not None and queryUtility(IKeyManager) is not None


def passes_csrf_check(request):
    """Whether a start passes the CSRF check: a user's request carries a valid
    token (or needs none: no plone.protect), an anonymous visitor's does not
    come from another site (``cross_site``). Anonymous passes without a token."""
    if getSecurityManager().getUser().getId() is None:  # anonymous
        return not cross_site(request)
    if not _protected():
        return True
    try:
        check(request)
    except Forbidden:  # missing or wrong
        return False
    return True


def cross_site(request):
    """Whether the browser says that the request comes from another site."""
    if request.getHeader("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        return True
    origin = request.getHeader("Origin")
    if origin is None:
        return False
    return _origin(origin) != _origin(request.get("SERVER_URL", ""))


def _origin(url):
    """(scheme, host, port) of a URL; None for "null" or anything unreadable."""
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port


def _also_provides(request, interface):
    """``alsoProvides(request, interface)``, without the declaration that
    ``directlyProvidedBy`` makes only to be read once: zope.interface
    computes the resolution order of each new one, which for a request
    that Plone's dozen layers mark was 8 % of a worker's CPU (a profile of
    ``bench/profile_drain.py --relstorage``). Where the request provides
    interfaces declared one by one (Plone's layers), they are read from its
    ``Provides`` as ``directlyProvidedBy`` reads them, and its new
    ``Provides`` is zope.interface's cached one while another request holds
    the same; anything else (a declaration among them, the interface there
    already) goes through ``alsoProvides``."""
    provides = getattr(request, "__provides__", None)
    directly = () if provides is None or isinstance(provides, Implements) else provides.__bases__[:-1]
    if interface in directly or not all(isinstance(one, InterfaceClass) for one in directly):
        alsoProvides(request, interface)
        return
    directlyProvides(request, *directly, interface)


def authenticator_input(context, request):
    """The hidden input with the token, for a form ('' without plone.protect)."""
    if not _protected():
        return ""
    return getMultiAdapter((context, request), name="authenticator").authenticator()


def trust_job(request):
    """The job's request was checked when it started: let its writes pass.

    Its user also gets a fresh token in the form (the stored request keeps
    none), so that code of ``__run__`` that checks one itself (plone.protect's
    ``check``, ``@protect(CheckAuthenticator)``) passes as it did; and the
    response's body is captured with that user's tokens kept out
    (``tokens.hide``), to be given again when the result is served.
    """
    if IKeyManager is None:
        return
    tokens.hide(request)
    _also_provides(request, IDisableCSRFProtection)
    if _protected() and getSecurityManager().getUser().getId() is not None:
        request.form["_authenticator"] = createToken()
