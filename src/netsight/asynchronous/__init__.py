"""netsight.async: run a browser request in the background, watch its progress."""

from netsight.asynchronous.exceptions import NoSuchProcessError
from netsight.asynchronous.exceptions import ProcessCancelled
from netsight.asynchronous.exceptions import ThreadDiedBeforeCompletionError
from netsight.asynchronous.i18n import _
from netsight.asynchronous.view import BaseAsyncView


__all__ = ["_", "BaseAsyncView", "NoSuchProcessError", "ProcessCancelled", "ThreadDiedBeforeCompletionError"]
