"""What can go wrong with a process, as exceptions that carry an HTTP status."""

from zExceptions import BadRequest
from zExceptions import Forbidden
from zExceptions import HTTPConflict
from zExceptions import HTTPServiceUnavailable
from zExceptions import InternalError
from zExceptions import NotFound

from netsight.asynchronous.internals import register_status


class NoSuchProcessError(NotFound):
    """No process with this id (unknown, malformed, or already fetched): 404."""


class ResultShownError(NoSuchProcessError):
    """The process's result was shown already and is gone (a one-shot's, or a
    kept one past its time): 410, to its owner only; anyone else gets the
    unknown id's 404. A NoSuchProcessError, as 1.x raised then."""


class ThreadDiedBeforeCompletionError(InternalError):
    """The process raised, or its worker stopped, before ``__run__`` returned: 500.

    ``page``, if given, renders the page that says so (the view's
    processing page); the exception view shows it.
    """

    def __init__(self, message="The process died before it completed.", page=None):
        super().__init__(message)
        self.page = page


class ProcessCancelled(Exception):
    """Raised in the job by ``set_progress`` once a cancel was asked: the job stops there.

    Let it propagate out of ``__run__``: the job's transaction is aborted
    and the process becomes ``cancelled``.
    """


class MissingProcessIdError(BadRequest):
    """The request names no process: 400."""


class BadStartError(BadRequest):
    """A start that cannot be: the form lacks an argument of ``__run__``, or
    the URL's context is no object of the database (nothing to run on): 400.

    ``reason`` says why to the user (an i18n message): a browser's start gets
    it on the add-on's 400 page, answered without raising through the
    publisher (nothing in the error log); a script's JSON start gets the
    exception's text as its ``error``.
    """

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason


class StartRefusedError(Forbidden):
    """A start without plone.protect's valid token, where one is required: 403."""


class QueueFullError(HTTPServiceUnavailable):
    """A start while ``queue-limit`` jobs wait to start already: 503, try again later."""

    retry_after = 30  # seconds: the Retry-After of its answer


class AlreadyRunningError(HTTPConflict):
    """A second start of an only-once job (a view's ``dedupe_key``, site-wide)
    while another owner's process holds its key: 409, and nothing of that process."""


# Zope finds the status of an exception by the name of its class (internals.register_status).
for exception, status in (
    (NoSuchProcessError, 404),
    (ResultShownError, 410),
    (ThreadDiedBeforeCompletionError, 500),
    (MissingProcessIdError, 400),
    (BadStartError, 400),
    (StartRefusedError, 403),
    (QueueFullError, 503),
    (AlreadyRunningError, 409),
):
    register_status(exception, status)
