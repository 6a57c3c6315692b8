"""What can go wrong with a process, as exceptions that carry an HTTP status."""

from zExceptions import BadRequest
from zExceptions import InternalError
from zExceptions import NotFound


class NoSuchProcessError(NotFound):
    """No process with this id (unknown, malformed, or already fetched): 404."""


class ThreadDiedBeforeCompletionError(InternalError):
    """The process raised, or its worker stopped, before ``__run__`` returned: 500."""


class MissingProcessIdError(BadRequest):
    """The request names no process: 400."""
