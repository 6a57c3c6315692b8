"""CSRF: a process starts only with plone.protect's token, where Plone has one.

The starting request writes (the process record), so in Plone it must carry
the ``_authenticator`` token that plone.protect adds to every POST form it
renders. Checking it before anything is written gives a clear 403 instead
of plone.protect aborting the start behind the redirect. Plain Zope, without
plone.protect or its key manager, has no token to check.
"""

from zope.component import queryUtility


try:
    from plone.keyring.interfaces import IKeyManager
    from plone.protect.authenticator import check
except ImportError:  # plain Zope
    IKeyManager = check = None


def check_authenticator(request):
    """Raise Forbidden (403) if Plone protects this site and the token is wrong."""
    if check is not None and queryUtility(IKeyManager) is not None:
        check(request)
