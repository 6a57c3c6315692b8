"""netsight.async: run a browser request in the background, watch its progress."""

from zope.i18nmessageid import MessageFactory


_ = MessageFactory("netsight.async")

from netsight.asynchronous.exceptions import NoSuchProcessError  # noqa: E402
from netsight.asynchronous.exceptions import ProcessCancelled  # noqa: E402
from netsight.asynchronous.exceptions import ThreadDiedBeforeCompletionError  # noqa: E402
from netsight.asynchronous.view import BaseAsyncView  # noqa: E402


__all__ = ["BaseAsyncView", "NoSuchProcessError", "ProcessCancelled", "ThreadDiedBeforeCompletionError"]
