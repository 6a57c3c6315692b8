"""CSRF: a process starts only with plone.protect's token, where Plone has one.

The starting request writes (the process record), so in Plone it must carry
the ``_authenticator`` token (or the ``X-CSRF-TOKEN`` header), as every
request that changes something. It is checked before anything is written,
so that a start without it gets a clear 403 page rather than plone.protect
aborting the start behind the redirect. The job then runs with the
protection satisfied: its writes are legitimate, since its start was
checked, even if the token has expired by the time the job writes. Plain
Zope, without plone.protect or its key manager, has no token to check.
"""

from zExceptions import Forbidden
from zope.component import getMultiAdapter
from zope.component import queryUtility
from zope.interface import alsoProvides


try:
    from plone.keyring.interfaces import IKeyManager
    from plone.protect.authenticator import check
    from plone.protect.interfaces import IDisableCSRFProtection
except ImportError:  # plain Zope
    IKeyManager = None


def _protected():
    return IKeyManager is not None and queryUtility(IKeyManager) is not None


def authenticated(request):
    """Whether the request may start a process: it has a valid token, or needs none."""
    if not _protected():
        return True
    try:
        check(request)
    except Forbidden:  # missing or wrong
        return False
    return True


def authenticator_input(context, request):
    """The hidden input with the token, for a form ('' without plone.protect)."""
    if not _protected():
        return ""
    return getMultiAdapter((context, request), name="authenticator").authenticator()


def trust_job(request):
    """The job's request was checked when it started: let its writes pass."""
    if IKeyManager is not None:
        alsoProvides(request, IDisableCSRFProtection)
