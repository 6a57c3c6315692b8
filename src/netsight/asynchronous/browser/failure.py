"""The page of a process that died: what it says, without a traceback."""

from netsight.asynchronous.i18n import _
from Products.Five.browser import BrowserView
from zope.i18n import translate


class FailurePage(BrowserView):
    """Exception view of ThreadDiedBeforeCompletionError (HTTP 500)."""

    def __call__(self):
        page = getattr(self.context, "page", None)
        if page is not None:
            return page()
        return translate(_("process_failed", default="The process failed."), context=self.request)
