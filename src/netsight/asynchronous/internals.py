"""Zope's private APIs that the add-on needs, each in one place, with why.

Zope has no public way to do these few things; should a Zope release change
one of them, ``tests/test_internals.py`` fails loudly and names it. Tested
with the Zope range that setup.py declares (``Zope >= 5.8, < 7``).
"""

from AccessControl.ZopeSecurityPolicy import getRoles
from ZPublisher.HTTPRequest import HTTPRequest
from ZPublisher.HTTPResponse import status_codes
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
    """Publish ``request`` from ``app`` as Zope's WSGI publisher does, once.

    ``publish`` and ``transaction_pubevents`` are the two halves of
    ``ZPublisher.WSGIPublisher.publish_module`` (traversal, authentication
    and the call; the transaction and the publication events): their
    signatures are not a public API, so they are called here only.

    Why the job's retry loop (``worker._publish``) is a loop of its own and
    not ``publish_module``'s, which it follows (``supports_retry``,
    ``delay_retry``, a new request each time, ``request.close()`` and
    ``clearRequest()`` after each attempt): ``publish_module`` cannot be
    called for a job, because

    - it publishes from the application of ``Zope2.bobo_application``
      (``get_module_info``, cached per module name), on a connection of its
      own that it closes: a job is published from its root's oid on a
      connection of the job's own database, the one that holds its record;
    - it retries every TransientError (a ConflictError); a job whose
      ``__run__`` committed work of its own is not published again unless
      its view allows that (``retry_after_commit``), and the reason is
      recorded;
    - its retry makes the next request with ``request.retry()``, which
      reuses the failed attempt's environ and the response's ``stdout``:
      a job's attempt needs a fresh copy of the stored environ and a new
      ``BodyCapture`` as its response's ``stdout`` (what a failed attempt
      streamed must not be in the result), so the job makes each request
      itself and gives it the count (``set_retry_count``);
    - it finalizes the response and starts the WSGI answer
      (``start_response``): a job's response is kept, not sent, and what
      the job answered (the view ran or not, its transaction committed or
      not, cancelled) is read from the ``Attempt`` that the view reports to;
    - the arguments that would give it the job's request and response
      (``_request``, ``_response``, ``_publish``: "only for testing") are
      no public API.
    """
    response = request.response
    with transaction_pubevents(request, response):
        publish(request, (app, realm, debug_mode))
    return response


def set_retry_count(request, count):
    """Make ``request`` Zope's ``count``-th retry of a request.

    ``retry_count`` is how Zope counts a request's retries: ``supports_retry()``
    (another retry while ``retry_count < retry_max_count``) and
    ``delay_retry()`` (a random pause of up to ``2 ** retry_count``
    seconds) read it. Zope sets it only in ``HTTPRequest.retry()``, which a
    job cannot use (``publish_job`` says why): the job's new request is
    given the count here.
    """
    request.retry_count = count


def set_conflict_retries(count):
    """Have Zope retry a request ``count`` times after a ConflictError; returns the count before.

    A Zope instance sets ``HTTPRequest.retry_max_count``, a class attribute,
    from zope.conf's ``max-conflict-retries`` (default 3) as it starts
    (``Zope2.Startup.handlers.root_wsgi_handler``); the class's own default
    is 0 (no retry). A test layer, which starts no instance, sets it here,
    and puts the count before back.
    """
    before = HTTPRequest.retry_max_count
    HTTPRequest.retry_max_count = count
    return before


def register_status(exception_class, status):
    """Have Zope answer ``status`` for ``exception_class`` raised by a published object.

    Zope's publisher and Plone's exception view set a failed request's
    status with ``response.setStatus(exception_class)``, which looks the
    class's *name* up in ``ZPublisher.HTTPResponse.status_codes`` (500 for
    a name it does not know), not its ``status`` or its base classes'. The
    module's table is the only way to add a name.
    """
    status_codes[exception_class.__name__.lower()] = status


def unlist(container, object_id):
    """Take ``object_id`` out of ``container``'s list of its objects; returns whether it was listed.

    An ObjectManager lists its objects in ``_objects`` (what ``objectIds``
    and ``objectValues`` read); ``manage_delObjects`` and ``_delObject``
    remove an item with events and ``manage_beforeDelete``, which an object
    whose class is gone (a ZODB broken object) cannot have. Its attribute
    is the caller's to remove.
    """
    entries = container._objects
    kept = tuple(entry for entry in entries if entry.get("id") != object_id)
    if len(kept) == len(entries):
        return False
    container._objects = kept
    return True


def roles_of(container, name, value, default=("Manager",)):
    """The roles that may access ``value``, published as ``name`` of ``container``.

    What Zope's security policy checks when it publishes ``value``:
    ``__roles__`` of the object (or ``<name>__roles__`` of its container's
    class), a permission's roles resolved on the object; ``default`` if it
    declares none. ``AccessControl.ZopeSecurityPolicy.getRoles`` is how the
    policy finds them; it is no documented API.
    """
    return getRoles(container, name, value, default)


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
