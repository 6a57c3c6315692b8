"""All processes, for the site's managers: every user's, filtered and batched, with cancel and remove.

``@@netsight-async-processes`` on the Plone site (Site Setup, Background
processes, "All processes") answers the users who hold the add-on's
permission "netsight.async: Manage processes" on the site itself
(``owners.is_manager``: never through a local role below it), which is
also its ZCML permission; Manager and Site Administrator hold it. Anyone
else gets Unauthorized. It lists the registry newest first (``listing.Listing``: a
page loads its own records only, however many there are), filtered by
stored state, by owner and by queue (a view's ``queue``: ``default`` for the
default one; the form offers the queues known: ``queue_names``), 50 a page
(``b_size`` up to 200); a filter or batch value it cannot read is said in a
notice above the list, which then shows what it shows without it. Each row
says the job's title, its attempt where it is one of a retry chain, and
when it started (a dash if it never did; "Scheduled for 04:27" while it
waits for its time). The filter form is a GET that carries no CSRF token
(it reads only). A POST with
plone.protect's token cancels an active process, removes an ended one or
runs a failed, interrupted or timed-out one again (Retry, where its view
allows it: ``retries.view_allows``), each in a transaction of its own, then redirects (303) to the same page
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
from netsight.asynchronous import queues
from netsight.asynchronous import retries
from netsight.asynchronous import settings
from netsight.asynchronous import sitetime
from netsight.asynchronous.browser.processes import job_titles
from netsight.asynchronous.browser.processes import process_row
from netsight.asynchronous.browser.processes import RETRY_MESSAGES
from netsight.asynchronous.browser.processes import retry_from_list
from netsight.asynchronous.forminput import whole_number
from netsight.asynchronous.i18n import _
from netsight.asynchronous.interfaces import IOwnPage
from netsight.asynchronous.listing import ANY as ANY_QUEUE
from netsight.asynchronous.listing import is_gone
from netsight.asynchronous.listing import queue_names
from netsight.asynchronous.processes import CancelOutcome
from netsight.asynchronous.processes import is_process_id
from netsight.asynchronous.processes import Processes
from netsight.asynchronous.processes import ProcessState
from netsight.asynchronous.processes import RemoveOutcome
from netsight.asynchronous.processes import RetryOutcome
from netsight.asynchronous.replay import NOT_SHARED
from netsight.asynchronous.statustexts import STATE_TEXTS

import datetime


NAME = "netsight-async-processes"
SIZE = 50  # processes a page
MAX_SIZE = 200  # the largest b_size
NEVER = "\u2013"  # what the times of a process that never started read
NOT_FOUND = (_("process_not_found", default="There is no process ${process}."), "warning")
MESSAGES = {  # what an action did: the status message and its type
    CancelOutcome.CANCELLED: (_("process_cancelled_now", default="Cancelled ${process}."), "info"),
    CancelOutcome.ASKED: (
        _("process_cancel_asked", default="Asked ${process} to stop: it stops at its next progress report."),
        "info",
    ),
    CancelOutcome.ENDED: (_("process_had_ended", default="${process} had already ended."), "warning"),
    CancelOutcome.UNKNOWN: NOT_FOUND,
    RemoveOutcome.REMOVED: (_("process_removed", default="Removed ${process}."), "info"),
    RemoveOutcome.ACTIVE: (_("process_still_active", default="${process} is still active: cancel it first."), "warning"),
    RemoveOutcome.UNKNOWN: NOT_FOUND,
}
# What a filter or batch value that cannot be read says (the page shows what it shows without it).
BAD_QUEUE = _("bad_queue", default="\u201c${queue}\u201d is no queue's name: all queues are shown.")
BAD_SIZE = _("bad_page_size", default="\u201c${size}\u201d is no number of processes a page (1 to ${most}): ${shown} are shown.")
BAD_START = _("bad_batch_start", default="\u201c${start}\u201d is no place in the list: its start is shown.")
BAD_OWNER = _("bad_owner", default="\u201c${owner}\u201d is no owner: all owners are shown.")


class AllProcesses(BrowserView):
    """``@@netsight-async-processes``: every process of the registry, for the site's managers."""

    template = ViewPageTemplateFile("templates/manage.pt")
    plone_template = ViewPageTemplateFile("templates/page.pt")
    refused_template = ViewPageTemplateFile("templates/refused.pt")

    def __call__(self):
        request = self.request
        self.processes = Processes(request)
        if not self.processes.manages(owners.site_path(self.context)):  # on the site, found from the root
            raise Unauthorized("Only the site's managers see all processes.")
        request.response.setHeader("Cache-Control", NOT_SHARED)
        self._read_filters()
        action = request.form.get("action")
        alsoProvides(self, IOwnPage)
        if request.get("REQUEST_METHOD", "GET").upper() == "POST" and action in ("cancel", "remove", "retry"):
            if not protect.passes_csrf_check(request):  # plone.protect's token: without it, nothing changes
                return self._refused()
            return self._act(action, request.form.get("process_id"))
        self.page_title = translate(
            _("all_processes_title", default="Background processes: all processes"), context=request
        )
        return self.template()

    # What the page shows.

    def batch(self):
        """The batch of records of this page (plone.batching), of the filtered listing."""
        queue = ANY_QUEUE if self.queue is None else queues.of_name(self.queue)
        listing = self.processes.listing(owners.site_path(self.context), self.state, self.owner, queue)
        start = self.start
        if start and start >= len(listing):  # past the end: the last page
            start = max(len(listing) - 1, 0) // self.size * self.size
        return Batch(listing, self.size, start)

    def rows(self, batch):
        """What the table shows of each record of ``batch`` (dicts); those removed meanwhile left out."""
        title = job_titles(self.context, self.request)
        return [self._row(status, title(status)) for status in (self.processes.status(r) for r in batch if not is_gone(r))]

    def queue_options(self):
        """The queue names the queue filter offers (sorted, ``default`` first): the default queue, those of this
        instance's ``queues`` setting, those live instances serve and those the records name (``listing.queue_names``)."""
        names = {queues.DEFAULT, *(queues.served() or ())}
        names |= queue_names(self.processes.connection, owners.site_path(self.context), settings.get("heartbeat-timeout"))
        if self.queue is not None:
            names.add(self.queue)
        return sorted(names, key=lambda name: (name != queues.DEFAULT, name))

    def notices(self):
        """What the page says of the filter and batch values it could not read (translated texts)."""
        return [translate(message, context=self.request) for message in self.bad_values]

    def state_options(self):
        """``(value, label, selected)`` of each state of the filter."""
        return [
            (state.value, translate(STATE_TEXTS[state], context=self.request), state == self.state)
            for state in ProcessState
        ]

    def page_url(self, **query):
        """This page's URL with the current filters (``query`` overrides them; a None drops one)."""
        params = {"state": self.state, "owner": self.owner, "queue": self.queue, "b_size": self.size if self.size != SIZE else None}
        params.update(query)
        params = {key: value for key, value in params.items() if value not in (None, "")}
        base = f"{self.context.absolute_url()}/@@{NAME}"
        return f"{base}?{urlencode(params)}" if params else base

    def hidden_filters(self):
        """``(name, value)`` of the filters each action's form sends back, for its redirect."""
        values = {"state": self.state, "owner": self.owner, "queue": self.queue, "b_size": self.size, "b_start": self.start}
        defaults = {"b_size": SIZE, "b_start": 0}
        return [(name, value) for name, value in values.items() if value not in (None, defaults.get(name))]

    def _row(self, status, title):
        row = process_row(self.request, status, title)
        ended = status.finished or status.as_of
        row.update(
            owner=status.owner or translate(_("anonymous_owner", default="Anonymous"), context=self.request),
            owner_url=self.page_url(owner=status.owner_key, b_start=None),
            message=translate(status.message, context=self.request) if status.message else "",
            error=status.error,  # why it failed or was interrupted: Managers see it
            started=_local(status.started),
            started_iso=_iso(status.started),
            created=_local(status.created),
            run_time=_duration(ended - status.started) if status.started else NEVER,
            instance=_instance(status, self.request),
            active=status.state.is_active,
            cancelling=status.stored_state == ProcessState.RUNNING and status.cancel_requested,
            queue=status.queue,  # None: the default queue
        )
        row["retryable"] = status.retryable and self._view_allows(status.process_id)
        return row

    def _view_allows(self, process_id):
        """Whether the view of ``process_id`` allows a Retry button now (``retries.view_allows``)."""
        record = self.processes.find(process_id)
        return record is not None and retries.view_allows(self.request["PARENTS"][-1], self.request, record)

    # The filters.

    def _read_filters(self):
        """The filters and the batch, from the form; what cannot be read is left out and said (``notices``)."""
        form = self.request.form
        self.bad_values = []
        state = form.get("state")
        state = None if state in (None, "") else state
        self.bad_state = None
        if state is not None and state not in tuple(ProcessState):  # shown with all states, and a notice
            self.bad_state = _shown(state)
            state = None
        owner = form.get("owner")
        self.state = state
        self.owner = (owner.strip() or None) if isinstance(owner, str) else None
        if owner is not None and not isinstance(owner, str):  # owner:list, owner:int: all owners, and a notice
            self.bad_values.append(Message(BAD_OWNER, mapping={"owner": _shown(owner)}))
        queue = form.get("queue")
        queue = (queue.strip() or None) if isinstance(queue, str) else queue  # None: every queue
        if queue is not None and not queues.is_name(queue):  # no queue can have it: all queues, and a notice
            self.bad_values.append(Message(BAD_QUEUE, mapping={"queue": _shown(queue)}))
            queue = None
        self.queue = queue
        size, start = form.get("b_size"), form.get("b_start")
        self.size = whole_number(size, 1, MAX_SIZE)
        if self.size is None:
            self.size = SIZE
            if size not in (None, ""):
                self.bad_values.append(Message(BAD_SIZE, mapping={"size": _shown(size), "most": MAX_SIZE, "shown": SIZE}))
        self.start = whole_number(start)
        if self.start is None:
            self.start = 0
            if start not in (None, ""):
                self.bad_values.append(Message(BAD_START, mapping={"start": _shown(start)}))

    # The actions.

    def _refused(self):
        """403: the page that says the form could not be sent, with a link back to the list."""
        self.request.response.setStatus(403)
        self.page_title = translate(_("form_refused", default="The form could not be sent."), context=self.request)
        self.view_url = self.page_url(b_start=self.start or None)  # the refused page's link back
        return self.plone_template(body=self.refused_template.macros["refused"])

    def _act(self, action, process_id):
        """Cancel, remove or retry ``process_id``, say how it went, and redirect (303) to the page."""
        if action == "retry":
            return self._retry(process_id)
        record = self.processes.find(process_id) if is_process_id(process_id) else None
        if record is not None and record.site != owners.site_path(self.context):
            record = None  # another site's: not this page's business
        if record is None:
            outcome = CancelOutcome.UNKNOWN if action == "cancel" else RemoveOutcome.UNKNOWN
        elif action == "cancel":
            outcome = self.processes.cancel(process_id)
        else:
            outcome = self.processes.remove(process_id)
        message, kind = MESSAGES[outcome]
        name = f"{record.view_name} ({process_id})" if record is not None else str(process_id)[:40]
        text = translate(Message(message, mapping={"process": name}), context=self.request)
        IStatusMessage(self.request).add(text, type=kind)
        self.request.response.redirect(self.page_url(b_start=self.start or None), status=303)
        return ""

    def _retry(self, process_id):
        """Run a failed, interrupted or timed-out process of this site again (its owner's still), say so, and redirect (303)."""
        site = owners.site_path(self.context)
        outcome, new_id = retry_from_list(self.request, self.processes, process_id, lambda record: record.site == site)
        record = self.processes.find(process_id) if outcome is not RetryOutcome.UNKNOWN else None
        message, kind = RETRY_MESSAGES[outcome]
        name = f"{record.view_name} ({process_id})" if record is not None else str(process_id)[:40]
        new = f"{record.view_name} ({new_id})" if record is not None and new_id else new_id
        text = translate(Message(message, mapping={"process": name, "new": new}), context=self.request)
        IStatusMessage(self.request).add(text, type=kind)
        self.request.response.redirect(self.page_url(b_start=self.start or None), status=303)
        return ""


def _shown(value):
    """A form value as a notice quotes it: text (several values joined), at most 40 characters."""
    text = value if isinstance(value, str) else ", ".join(str(item) for item in value) if isinstance(value, list) else str(value)
    return text[:40]


def _local(when):
    """A time in the site's time zone (else the server's), to the second; NEVER for None."""
    return NEVER if when is None else sitetime.at(when).strftime("%Y-%m-%d %H:%M:%S")


def _iso(when):
    return sitetime.iso(when)


def _duration(seconds):
    """``12.3 s`` under a minute, else ``h:mm:ss``."""
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    return str(datetime.timedelta(seconds=round(seconds)))


def _instance(status, request):
    """The instance that runs or ran it; "unclaimed" while any may claim it; NEVER for one that never had one."""
    if status.instance is None or (status.unclaimed and status.state.is_finished):  # cancelled before a claim
        return NEVER
    if status.unclaimed:
        return translate(_("instance_unclaimed", default="unclaimed"), context=request)
    return status.instance
