"""All processes, for the site's managers: every user's, filtered and batched, with cancel and remove.

``@@netsight-async-processes`` on the Plone site (Site Setup, Background
processes, "All processes") answers the users who hold the add-on's
permission "netsight.async: Manage processes" on the site itself
(``owners.is_manager``: never through a local role below it), which is
also its ZCML permission; Manager and Site Administrator hold it. Anyone
else gets Unauthorized. It lists the registry newest first (``listing.Listing``: a
page loads its own records only, however many there are), filtered by
stored state and by owner, 50 a page (``b_size`` up to 200). A POST with
plone.protect's token cancels an active process or removes an ended one,
each in a transaction of its own, then redirects (303) to the same page
with the same filters; without the token it is a 403 and changes nothing.
"""

from plone.batching import Batch
from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from Products.statusmessages.interfaces import IStatusMessage
from urllib.parse import urlencode
from zExceptions import Unauthorized
from zope.i18n import translate
from zope.i18nmessageid import Message
from zope.interface import alsoProvides

from netsight.asynchronous import owners
from netsight.asynchronous import protect
from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous.browser.processes import process_row
from netsight.asynchronous.browser.processes import STATES
from netsight.asynchronous.i18n import _
from netsight.asynchronous.instance import cancel
from netsight.asynchronous.interfaces import IOwnPage
from netsight.asynchronous.listing import is_gone
from netsight.asynchronous.listing import Listing
from netsight.asynchronous.pages import app_connection
from netsight.asynchronous.pages import PROCESS_ID
from netsight.asynchronous.pages import whole_number
from netsight.asynchronous.replay import NOT_SHARED

import datetime
import time


NAME = "netsight-async-processes"
SIZE = 50  # processes a page
MAX_SIZE = 200  # the largest b_size
NEVER = "\u2013"  # what the times of a process that never started read
MESSAGES = {  # (action, what it returned): the status message and its type
    ("cancel", True): (_("process_cancelled_now", default="Cancelled ${process}."), "info"),
    ("cancel", "asked"): (
        _("process_cancel_asked", default="Asked ${process} to stop: it stops at its next progress report."),
        "info",
    ),
    ("cancel", False): (_("process_had_ended", default="${process} had already ended."), "warning"),
    ("remove", True): (_("process_removed", default="Removed ${process}."), "info"),
    ("remove", False): (_("process_still_active", default="${process} is still active: cancel it first."), "warning"),
    ("cancel", None): (_("process_not_found", default="There is no process ${process}."), "warning"),
    ("remove", None): (_("process_not_found", default="There is no process ${process}."), "warning"),
}


class AllProcesses(BrowserView):
    """``@@netsight-async-processes``: every process of the registry, for the site's managers."""

    template = ViewPageTemplateFile("templates/manage.pt")
    plone_template = ViewPageTemplateFile("templates/page.pt")
    refused_template = ViewPageTemplateFile("templates/refused.pt")

    def __call__(self):
        request = self.request
        if not owners.is_manager(request, owners.site_path(self.context)):  # on the site, found from the root
            raise Unauthorized("Only the site's managers see all processes.")
        request.response.setHeader("Cache-Control", NOT_SHARED)
        self._read_filters()
        action = request.form.get("action")
        alsoProvides(self, IOwnPage)
        if request.get("REQUEST_METHOD", "GET").upper() == "POST" and action in ("cancel", "remove"):
            if not protect.authenticated(request):  # plone.protect's token: without it, nothing changes
                return self._refused()
            return self._act(action, request.form.get("process_id"))
        self.page_title = translate(
            _("all_processes_title", default="Background processes: all processes"), context=request
        )
        return self.template()

    # What the page shows.

    def batch(self):
        """The batch of records of this page (plone.batching), of the filtered listing."""
        listing = Listing(app_connection(self.request), owners.site_path(self.context), self.state, self.owner)
        start = self.start
        if start and start >= len(listing):  # past the end: the last page
            start = max(len(listing) - 1, 0) // self.size * self.size
        return Batch(listing, self.size, start)

    def rows(self, batch):
        """What the table shows of each record of ``batch`` (dicts); those removed meanwhile left out."""
        connection = app_connection(self.request)
        timeout, now = settings.get("heartbeat-timeout"), time.time()
        return [self._row(connection, record, timeout, now) for record in batch if not is_gone(record)]

    def state_options(self):
        """``(value, label, selected)`` of each state of the filter."""
        return [
            (state, translate(STATES[state], context=self.request), state == self.state) for state in registry.STATES
        ]

    def page_url(self, **query):
        """This page's URL with the current filters (``query`` overrides them; a None drops one)."""
        params = {"state": self.state, "owner": self.owner, "b_size": self.size if self.size != SIZE else None}
        params.update(query)
        params = {key: value for key, value in params.items() if value not in (None, "")}
        base = f"{self.context.absolute_url()}/@@{NAME}"
        return f"{base}?{urlencode(params)}" if params else base

    def hidden_filters(self):
        """``(name, value)`` of the filters each action's form sends back, for its redirect."""
        values = {"state": self.state, "owner": self.owner, "b_size": self.size, "b_start": self.start}
        defaults = {"b_size": SIZE, "b_start": 0}
        return [(name, value) for name, value in values.items() if value not in (None, defaults.get(name))]

    def _row(self, connection, record, timeout, now):
        state = registry.effective_state(connection, record, timeout, now)
        row = process_row(self.request, record, state)
        key = registry.owner_key(record)
        ended = record.finished or now
        row.update(
            owner=record.owner or translate(_("anonymous_owner", default="Anonymous"), context=self.request),
            owner_url=self.page_url(owner=key, b_start=None),
            message=translate(record.message, context=self.request) if record.message else "",
            error=record.error,  # why it failed or was interrupted: Managers see it
            started=_local(record.started),
            started_iso=_iso(record.started),
            created=_local(record.created),
            run_time=_duration(ended - record.started) if record.started else NEVER,
            instance=_instance(record.instance, self.request),
            active=state in registry.ACTIVE,
            cancelling=record.state == registry.RUNNING and record.cancel_requested,
        )
        return row

    # The filters.

    def _read_filters(self):
        form = self.request.form
        state = form.get("state") or None
        self.bad_state = None
        if state is not None and state not in registry.STATES:  # shown with all states, and a notice
            self.bad_state = state if isinstance(state, str) else ", ".join(str(value) for value in state)
            state = None
        owner = form.get("owner")
        self.state = state
        self.owner = (owner.strip() or None) if isinstance(owner, str) else None
        size, start = whole_number(form.get("b_size"), 1, MAX_SIZE), whole_number(form.get("b_start"))
        self.size = SIZE if size is None else size
        self.start = 0 if start is None else start

    # The actions.

    def _refused(self):
        """403: the page that says the form could not be sent, with a link back to the list."""
        self.request.response.setStatus(403)
        self.page_title = translate(_("form_refused", default="The form could not be sent."), context=self.request)
        self.view_url = self.page_url(b_start=self.start or None)  # the refused page's link back
        return self.plone_template(body=self.refused_template.macros["refused"])

    def _act(self, action, process_id):
        """Cancel or remove ``process_id``, say how it went, and redirect (303) to the page."""
        valid = isinstance(process_id, str) and PROCESS_ID.fullmatch(process_id)
        connection = app_connection(self.request)
        record = registry.find(connection, process_id) if valid else None
        if record is not None and record.site != owners.site_path(self.context):
            record = None  # another site's: not this page's business
        db = connection.db()
        if record is None:
            outcome = None
        elif action == "cancel":
            outcome = cancel(db, process_id)
            if outcome and record.state == registry.RUNNING:
                outcome = "asked"
        else:
            timeout = settings.get("heartbeat-timeout")
            outcome = registry.in_own_transaction(db, lambda root: registry.remove_ended(root, process_id, timeout))
        message, kind = MESSAGES[action, outcome]
        name = f"{record.view_name} ({process_id})" if record is not None else str(process_id)[:40]
        text = translate(Message(message, mapping={"process": name}), context=self.request)
        IStatusMessage(self.request).add(text, type=kind)
        self.request.response.redirect(self.page_url(b_start=self.start or None), status=303)
        return ""


def _local(when):
    """A time as the server's local time, to the second; NEVER for None."""
    return NEVER if when is None else datetime.datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M:%S")


def _iso(when):
    return None if when is None else datetime.datetime.fromtimestamp(when).astimezone().isoformat(timespec="seconds")


def _duration(seconds):
    """``12.3 s`` under a minute, else ``h:mm:ss``."""
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    return str(datetime.timedelta(seconds=round(seconds)))


def _instance(instance, request):
    if instance is None:
        return NEVER
    if instance == registry.UNCLAIMED:
        return translate(_("instance_unclaimed", default="unclaimed"), context=request)
    return instance
