"""Zope's private APIs that the add-on needs, each in one place, with why.

Zope has no public way to do these few things; should a Zope release change
one of them, ``tests/test_internals.py`` fails loudly and names it. Tested
with the Zope range that setup.py declares (``Zope >= 5.8, < 7``).
"""

from ZPublisher.WSGIPublisher import publish
from ZPublisher.WSGIPublisher import transaction_pubevents


def set_locked_body(response, body):
    """Make ``body`` (bytes, or a file sent in chunks) the response's body, untouched by what follows.

    ``setBody(..., lock=True)`` is public, but it transforms the body on
    its way (a ``<base>`` tag, a charset added to the content type, a
    text/plain default), which a replayed response has already had: so
    the body is set as it is and the private lock flag raised, after which
    Zope's own ``setBody`` of the published method's return value is a no-op.
    """
    response.body = body
    response._locked_body = True


def hold(request, obj):
    """Keep ``obj`` alive until the request is closed, and no longer.

    ``BaseRequest._hold`` is how Zope itself ties an object's life to a
    request's (an object whose ``__del__`` cleans up); it has no public name.
    """
    request._hold(obj)


def publish_job(request, app, realm, debug_mode):
    """Publish ``request`` from ``app`` as Zope's WSGI publisher does.

    ``publish`` and ``transaction_pubevents`` are the two halves of
    ``ZPublisher.WSGIPublisher.publish_module`` (traversal, authentication
    and the call; the transaction and the publication events): their
    signatures are not a public API, so they are called here only.
    """
    response = request.response
    with transaction_pubevents(request, response):
        publish(request, (app, realm, debug_mode))
    return response


def csrf_keys(user_name, manager=None):
    """The keys from which plone.protect makes ``user_name``'s CSRF tokens (None keys left out).

    plone.protect makes a token from one key, drawn at random, of the
    user's keyring (``_forms``, else ``_system``, in the current site's key
    manager, or ``manager``); ``_getKeyring`` is how it finds that keyring, with no public
    name. ``tokens.py`` needs every key to know every token of a user.
    """
    from plone.protect.authenticator import _getKeyring

    return [key for key in _getKeyring(user_name, manager=manager) if key]


class _BeforeDatabasesClose:
    """First in ``Zope2.opened``: what ``runwsgi`` closes first, its server gone."""

    def __init__(self, callback):
        self.callback = callback

    def close(self):
        self.callback()


def before_databases_close(callback):
    """Have ``callback`` called when ``runwsgi`` ends, before it closes the databases.

    Zope has no event for the end of the process (``zope.processlifetime``
    has ``IProcessStarting`` only), and ``atexit`` runs too late: once its
    server returned, ``runwsgi`` (``Zope2.Startup.serve``) calls ``close()``
    on each object of ``Zope2.opened``, the list of the databases that Zope
    opened, in its order; an object with a ``close`` method put first is
    called before any database closes.
    """
    import Zope2

    Zope2.opened.insert(0, _BeforeDatabasesClose(callback))
