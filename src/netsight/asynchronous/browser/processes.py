"""My processes: the page that lists the requester's own processes, newest first.

A user who closed the tab, or started several jobs, finds them here again
(Plone's personal menu links to it, above "Log out", and so do the
processing page and the page of a result already shown): each with its
job's title (``jobtitle.py``), context, state (and its attempt, where it is
one of a retry chain), progress and start time (a dash for one that never
started; "Scheduled for 04:27" while it waits for its time), and a link to
its processing page, or to its result while it is ready (a result kept
after it was shown, ``keep_result``, too). An anonymous visitor sees the
processes of this browser (its ownership cookie). Reading it writes
nothing; its owner's Remove (a POST with plone.protect's token; for an
anonymous visitor, not from another site: ``protect.passes_csrf_check``)
forgets a failed, cancelled or interrupted process or a kept result, in a
transaction of its own (``registry.remove_ended``), and redirects (303)
back here; its Retry (the same way) runs a failed, interrupted or
timed-out process again where its view allows it (``retries.view_allows``). A result shown and gone is not listed: the registry takes its
record out of the owner's list when it goes (``registry.drop_result``).
"""

from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from zope.i18n import translate
from zope.i18nmessageid import Message
from zExceptions import NotFound
from zope.interface import alsoProvides

from netsight.asynchronous import frames
from netsight.asynchronous import jobtitle
from netsight.asynchronous import owners
from netsight.asynchronous import protect
from netsight.asynchronous import registry
from netsight.asynchronous import retries
from netsight.asynchronous import sitetime
from netsight.asynchronous.exceptions import QueueFullError
from netsight.asynchronous.i18n import _
from netsight.asynchronous.interfaces import INetsightAsyncLayer
from netsight.asynchronous.interfaces import IOwnPage
from netsight.asynchronous.processes import is_process_id
from netsight.asynchronous.processes import Processes
from netsight.asynchronous.processes import ProcessState
from netsight.asynchronous.processes import RemoveOutcome
from netsight.asynchronous.processes import RetryOutcome
from netsight.asynchronous.processes.status import is_percentage
from netsight.asynchronous.replay import NOT_SHARED
from netsight.asynchronous.statustexts import attempt_of
from netsight.asynchronous.statustexts import scheduled_for
from netsight.asynchronous.statustexts import STATE_TEXTS


try:
    from Products.statusmessages.interfaces import IStatusMessage
except ImportError:  # plain Zope
    IStatusMessage = None


LIMIT = 100  # processes shown, the newest
NEVER = "\u2013"  # what the start time of a process that never started reads
SHOWN = _("state_shown", default="Done: the result was shown")
KEPT = _("state_kept", default="Done: the result can be seen again until ${time}")
# Rows that their owner may remove (a kept result too): they ended, and nothing is lost but the row.
REMOVE_MESSAGES = {  # what the removal did: the status message and its type
    RemoveOutcome.REMOVED: (_("process_removed", default="Removed ${process}."), "info"),
    RemoveOutcome.ACTIVE: (_("process_still_active", default="${process} is still active: cancel it first."), "warning"),
    RemoveOutcome.UNKNOWN: (_("process_not_found", default="There is no process ${process}."), "warning"),
}

QUEUE_FULL = "queue_full"  # a list's Retry refused by a start's caps (``retry_from_list``)

# What a Retry did (its status message and type); an unknown process's is NOT_FOUND's.
RETRY_MESSAGES = {
    RetryOutcome.RETRIED: (_("process_retried", default="${process} runs again as ${new}."), "info"),
    RetryOutcome.NOT_RETRYABLE: (
        _("process_not_retryable", default="${process} cannot run again: it did not fail, or it was retried already."),
        "warning",
    ),
    RetryOutcome.UNKNOWN: (_("process_not_found", default="There is no process ${process}."), "warning"),
    # Only once (``dedupe_key``): another process holds its key; which one is not said (it may be another owner's).
    RetryOutcome.ALREADY_RUNNING: (
        _("process_retry_already_running", default="${process} was not run again: the same job waits or runs already."),
        "warning",
    ),
    # A start's caps (``QueueFullError``): nothing was written.
    QUEUE_FULL: (
        _("process_retry_queue_full", default="${process} was not run again: too many processes are waiting to start. Try again later."),
        "warning",
    ),
}


def retry_from_list(request, processes, process_id, may_act):
    """A list's Retry of ``process_id``: ``(RetryOutcome, new id or None)``.

    ``may_act(record)``: whether the list's requester may act on it (its owner; a manager of the list's site).
    A record they may not act on, or whose view does not allow a Retry now (``retries.view_allows``), is
    UNKNOWN, as an id that never was. A Retry refused by a start's caps is ``(QUEUE_FULL, None)``; of an
    only-once job whose key another process holds, ``(ALREADY_RUNNING, None)`` (which one is not said).
    """
    record = processes.find(process_id) if is_process_id(process_id) else None
    if record is None or processes.expired(record) or not may_act(record):
        return RetryOutcome.UNKNOWN, None
    if not retries.view_allows(request["PARENTS"][-1], request, record):
        return RetryOutcome.UNKNOWN, None
    try:
        outcome, new_id = processes.retry(process_id)
    except QueueFullError:
        return QUEUE_FULL, None
    return outcome, (None if outcome is RetryOutcome.ALREADY_RUNNING else new_id)


def process_row(request, status, title):
    """What a list of processes shows of one process (a dict), from its ``ProcessStatus``.

    ``title``: what its pages call the job, translated (``job_titles``).
    My processes shows it as it is; the Managers' page
    (``manage.py``) adds what only they see.
    """
    state = status.state
    done = state == ProcessState.DONE
    page = "result" if status.result_ready else "processing"
    progress = status.progress if is_percentage(status.progress) else None
    state_text = STATE_TEXTS[state]
    if done and status.result_gone:  # shown, or kept past its time
        state_text = SHOWN
    elif status.result_ready and status.keep_until is not None:
        until = sitetime.at(status.keep_until).strftime("%Y-%m-%d %H:%M")
        state_text = Message(KEPT, mapping={"time": until})
    scheduled = status.scheduled_for if state == ProcessState.SCHEDULED else None
    return {
        "process_id": status.process_id,
        "title": title,
        "view": status.view_name,
        "context_url": status.context_url,
        "context_path": status.context_path,
        "state": state.value,
        "state_text": translate(state_text, context=request),
        "attempt": translate(attempt_line(status), context=request) if in_retry_chain(status) else "",
        "progress": 100 if done and progress is not None else progress,
        # Never started (scheduled, waiting, cancelled before it ran): no start time.
        "started": NEVER if status.started is None else sitetime.at(status.started).strftime("%Y-%m-%d %H:%M"),
        "started_iso": _iso(status.started),
        "scheduled": "" if scheduled is None else translate(scheduled_for(scheduled, status.as_of), context=request),
        "scheduled_iso": _iso(scheduled),
        "url": status.url(page),
        "ready": status.result_ready,
        "kept": status.result_ready and status.keep_until is not None,
    }


def in_retry_chain(status):
    """Whether the process is one of a retry chain: it retries one, or was retried."""
    return status.retry_of is not None or status.retried_by is not None


def attempt_line(status):
    """A list's "Attempt 2 of 3" ("Attempt 2" where only a Retry button runs it again)."""
    return attempt_of(status.attempt, status.max_attempts)


def job_titles(context, request):
    """A function that gives a ``ProcessStatus``'s job title, translated (``jobtitle.of_process``, on
    ``context``); a view's default title is looked up once per view name."""
    defaults = {}

    def title(status):
        if status.title is not None:
            return jobtitle.shown(status.title, request)
        if status.view_name not in defaults:
            defaults[status.view_name] = jobtitle.of_process(status, context, request)
        return defaults[status.view_name]

    return title


def _iso(when):
    """A time as ISO 8601 with the UTC offset of the site's time zone (``sitetime``), for a ``<time datetime>``; None for None."""
    return sitetime.iso(when)


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

    refused_template = ViewPageTemplateFile("templates/refused.pt")

    def __call__(self):
        if not installed_here(self.context, self.request):
            raise NotFound("my-processes")
        request = self.request
        request.response.setHeader("Cache-Control", NOT_SHARED)
        alsoProvides(self, IOwnPage)
        self.view_url = self.page_url()  # the refused page's link back
        action = request.form.get("action")
        if request.get("REQUEST_METHOD", "GET").upper() == "POST" and action in ("remove", "retry"):
            if not protect.passes_csrf_check(request):  # without plone.protect's token, nothing changes
                request.response.setStatus(403)
                self.page_title = translate(_("form_refused", default="The form could not be sent."), context=request)
                return self._render(self.refused_template.macros["refused"])
            if action == "retry":
                return self._retry(request.form.get("process_id"))
            return self._remove(request.form.get("process_id"))
        self.page_title = translate(_("my_processes", default="My processes"), context=request)
        return self._render(self.body_template.macros["processes"])

    def page_url(self):
        """The URL of this page, on the context it was asked on."""
        return f"{self.context.absolute_url()}/@@my-processes"

    def authenticator(self):
        """The hidden input with plone.protect's token, for a Remove form ('' without plone.protect)."""
        return protect.authenticator_input(self.context, self.request)

    def processes(self):
        """What the page shows of each process (dicts), newest first; a result shown once and gone is not listed."""
        key = owners.caller_key(self.request)
        if key is None:
            return []
        processes = Processes(self.request)
        title = job_titles(self.context, self.request)
        rows = []
        for record in processes.listing(owners.site_path(self.context), owner=key):  # read as far as shown
            if not processes.listed(record):  # housekeeping removes them
                continue
            status = processes.status(record)
            row = process_row(self.request, status, title(status))
            row["removable"] = status.ended_without_result or row["kept"]
            row["retryable"] = status.retryable and self._view_allows(record)
            rows.append(row)
            if len(rows) == LIMIT:
                break
        return rows

    def _view_allows(self, record):
        """Whether the view of ``record`` allows a Retry button now (``retries.view_allows``)."""
        return retries.view_allows(self.request["PARENTS"][-1], self.request, record)

    def _retry(self, process_id):
        """Run one of the requester's own failed, interrupted or timed-out processes again, say so, and redirect (303) here."""
        request = self.request
        key = owners.caller_key(request)
        site = owners.site_path(self.context)
        processes = Processes(request)
        outcome, new_id = retry_from_list(
            request, processes, process_id,
            lambda record: key is not None and record.site == site and registry.owner_key(record) == key,
        )
        message, kind = RETRY_MESSAGES[outcome]
        name = process_id if is_process_id(process_id) else str(process_id)[:40]
        if IStatusMessage is not None and (messages := IStatusMessage(request, None)) is not None:
            messages.add(translate(Message(message, mapping={"process": name, "new": new_id}), context=request), type=kind)
        request.response.redirect(self.page_url(), status=303)
        return ""

    def _render(self, body):
        if not frames.in_plone(self.context, self.request):
            return self.standalone_template(body=body)
        return self.plone_template(body=body)

    def _remove(self, process_id):
        """Forget one of the requester's own ended processes, say so, and redirect (303) here."""
        request = self.request
        key = owners.caller_key(request)
        valid = is_process_id(process_id)
        outcome = RemoveOutcome.UNKNOWN
        if valid and key is not None:
            processes = Processes(request)
            record = processes.find(process_id)
            if record is not None and record.site == owners.site_path(self.context):  # this site's list only
                outcome = processes.remove(process_id, owner=key)
        message, kind = REMOVE_MESSAGES[outcome]
        name = process_id if valid else str(process_id)[:40]
        if IStatusMessage is not None and (messages := IStatusMessage(request, None)) is not None:
            messages.add(translate(Message(message, mapping={"process": name}), context=request), type=kind)
        request.response.redirect(self.page_url(), status=303)
        return ""

