"""My processes: the page that lists the requester's own processes, newest first.

A user who closed the tab, or started several jobs, finds them here again
(Plone's personal menu links to it): each with its view, context, state,
progress and start time, and a link to its processing page, or to its
result once it is ready. An anonymous visitor sees the processes of this
browser (its ownership cookie). It only reads the registry.
"""

from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from zope.component import queryMultiAdapter
from zope.i18n import translate
from zExceptions import NotFound
from zope.interface import alsoProvides

from netsight.asynchronous import owners
from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous.i18n import _
from netsight.asynchronous.interfaces import INetsightAsyncLayer
from netsight.asynchronous.interfaces import IOwnPage
from netsight.asynchronous.listing import is_gone
from netsight.asynchronous.listing import Listing
from netsight.asynchronous.pages import app_connection
from netsight.asynchronous.pages import expired
from netsight.asynchronous.replay import NOT_SHARED

import datetime
import time


LIMIT = 100  # processes shown, the newest
STATES = {
    registry.QUEUED: _("state_queued", default="Waiting to start"),
    registry.RUNNING: _("state_running", default="Running"),
    registry.DONE: _("state_done", default="Done: the result is ready"),
    registry.FAILED: _("state_failed", default="Failed"),
    registry.CANCELLED: _("state_cancelled", default="Cancelled"),
    registry.INTERRUPTED: _("state_interrupted", default="Interrupted: the server was stopped"),
}


def process_row(request, record, state):
    """What a list of processes shows of one record (a dict), read as ``state``.

    My processes shows it as it is; the Managers' page
    (``manage.py``) adds what only they see.
    """
    context_url = request.physicalPathToURL(record.context_path)
    page = "result" if state == registry.DONE else "processing"
    progress = record.progress if registry.is_number(record.progress) else None
    started = record.started or record.created
    return {
        "process_id": record.process_id,
        "view": record.view_name,
        "context_url": context_url,
        "context_path": record.context_path,
        "state": state,
        "state_text": translate(STATES[state], context=request),
        "progress": 100 if state == registry.DONE and progress is not None else progress,
        "started": datetime.datetime.fromtimestamp(started).isoformat(" ", "minutes"),
        "url": f"{context_url}/@@{record.view_name}/{page}?process_id={record.process_id}",
        "ready": state == registry.DONE,
    }


def installed_here(context, request):
    """Whether the lists of processes answer here: in plain Zope (outside
    any Plone site) always; in a Plone site, only where the add-on is
    installed (its profile's browser layer): an uninstalled site lists none."""
    return not owners.site_path(context) or INetsightAsyncLayer.providedBy(request)


class MyProcesses(BrowserView):
    """``@@my-processes``: the requester's processes."""

    body_template = ViewPageTemplateFile("templates/processes.pt")
    plone_template = ViewPageTemplateFile("templates/page.pt")
    standalone_template = ViewPageTemplateFile("templates/standalone.pt")

    def __call__(self):
        if not installed_here(self.context, self.request):
            raise NotFound("my-processes")
        self.request.response.setHeader("Cache-Control", NOT_SHARED)
        self.page_title = translate(_("my_processes", default="My processes"), context=self.request)
        alsoProvides(self, IOwnPage)
        body = self.body_template.macros["processes"]
        if queryMultiAdapter((self.context, self.request), name="main_template") is None:
            return self.standalone_template(body=body)
        return self.plone_template(body=body)

    def processes(self):
        """What the page shows of each process (dicts), newest first."""
        key = owners.caller_key(self.request)
        if key is None:
            return []
        connection = app_connection(self.request)
        timeout, now = settings.get("heartbeat-timeout"), time.time()
        rows = []
        for record in Listing(connection, owners.site_path(self.context), owner=key)[:LIMIT]:
            if is_gone(record) or expired(record):  # an expired one: housekeeping removes it
                continue
            rows.append(process_row(self.request, record, registry.effective_state(connection, record, timeout, now)))
        return rows
