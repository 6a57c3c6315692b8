"""BaseAsyncView: a browser view whose ``__run__`` runs in the background."""

from inspect import Parameter
from inspect import signature
from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from transaction.interfaces import TransientError
from zExceptions import BadRequest
from zExceptions import HTTPRedirection
from zExceptions import NotFound
from zope.interface import implementer
from zope.publisher.interfaces import IPublishTraverse

from netsight.asynchronous import anonymous
from netsight.asynchronous import formvalues
from netsight.asynchronous import jobtitle
from netsight.asynchronous import owners
from netsight.asynchronous import protect
from netsight.asynchronous import queues
from netsight.asynchronous import registry
from netsight.asynchronous import retries
from netsight.asynchronous import scheduling
from netsight.asynchronous import scrub
from netsight.asynchronous import settings
from netsight.asynchronous import startcommit
from netsight.asynchronous import timelimits
from netsight.asynchronous import worker
from netsight.asynchronous.cancels import ask_to_cancel
from netsight.asynchronous.cancels import cancel_asked
from netsight.asynchronous.exceptions import AlreadyRunningError
from netsight.asynchronous.exceptions import BadStartError
from netsight.asynchronous.exceptions import NoSuchProcessError
from netsight.asynchronous.exceptions import ProcessCancelled
from netsight.asynchronous.exceptions import QueueFullError
from netsight.asynchronous.exceptions import StartRefusedError
from netsight.asynchronous.i18n import _
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.instanceid import next_ticket
from netsight.asynchronous.limits import JobLimits
from netsight.asynchronous.limits import StartSettings
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.notify import wanted as mail_wanted
from netsight.asynchronous.pages import NAMES
from netsight.asynchronous.pages import StatusPage
from netsight.asynchronous.pages import StatusPages
from netsight.asynchronous.paths import physical_path
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.progress import Held
from netsight.asynchronous.progress import Report
from netsight.asynchronous.progress import REPORTS
from netsight.asynchronous.progress import write as write_report
from netsight.asynchronous.statustexts import STARTED_BY_SOMEONE_ELSE

import logging
import transaction


logger = logging.getLogger("netsight.async")


@implementer(IPublishTraverse)
class BaseAsyncView(StatusPages, BrowserView):
    """A view whose job, ``__run__``, runs in the background.

    A request for which ``run_process()`` is true (a POST, by default)
    starts ``__run__`` in a worker thread, as the same user on the same
    context with the same form, and is redirected to ``processing``. Any
    other request gets ``initial_page``.
    """

    #: The ZCML template (or your own) is the initial page; ``None`` too
    #: means the ZCML template, as in 1.x.
    initial_page = None

    #: A job that committed work of its own (``transaction.commit()`` in
    #: ``__run__``) is not run again from the start after a ConflictError,
    #: nor retried automatically after a failure (``retry_on``), since it
    #: would repeat that work: it fails instead. Set this to True if running
    #: it again is safe.
    retry_after_commit = False

    #: A job whose instance stopped or died is interrupted (it reads
    #: ERROR). Set this to True if running it again from the start is
    #: safe: it is then queued again, for any instance with a pool, at
    #: most ``max_reruns`` times. Its request is kept in the database
    #: meanwhile (without credentials).
    rerun_interrupted = False
    max_reruns = 1

    #: A **Retry** button on a process of this view that failed, was
    #: interrupted or timed out, for its owner and the site's managers: it
    #: runs the job again with the request it kept, as a new process linked
    #: to the old one (retries.py). True, or a method, asked by the start
    #: (its request is then kept in the database, without credentials,
    #: until the process is retried or forgotten) and again by each page
    #: and Retry POST.
    may_retry = False

    #: Automatic retries: an attempt whose ``__run__`` raised one of
    #: ``retry_on`` (a tuple of exception classes, or a method that returns
    #: one; () by default: none) is retried later, up to ``max_retries``
    #: times (0 by default), each attempt a process of its own linked to the
    #: one before (its page says "Attempt 2 of 4, next at 14:03"). The
    #: attempt's transaction is aborted, as at any failure; it is retried
    #: only if ``__run__`` committed nothing of its own (see
    #: ``retry_after_commit``). Zope's own retry of a ConflictError is not
    #: one of these. Its request is kept in the database (without
    #: credentials) until the last attempt ended.
    retry_on = ()
    max_retries = 0

    #: Seconds before the second attempt; each next one waits twice as long
    #: as the one before, at most ``retry_backoff_max`` seconds, less a
    #: random part of up to a half (jitter): ``retries.backoff_delay``. The
    #: next attempt is *scheduled* meanwhile: any instance with a pool
    #: queues it at its time; a cancel ends the chain.
    retry_backoff = 1.0
    retry_backoff_max = 600.0

    #: ``"mail"``: when the job is done and its result was not shown soon
    #: after (its tab closed or hidden), its owner gets a mail through the
    #: site's MailHost, at most once: the job's name and the link to its
    #: result, nothing of the result itself (a member with an e-mail
    #: address only; see notify.py).
    #: None: no mail; the notice on the owner's next page is given anyway.
    notify = None

    #: What the job's pages call it: the processing page's heading and the
    #: browser's title ("Computing F(2000)"). Text, an i18n message, or a
    #: method (or property) that computes it from the starting request's
    #: form (``self.request.form``); it is taken at the start and kept with
    #: the process. None: the title of the view's menu item
    #: (``browser:page menu="..." title="..."``), else its name made readable
    #: ("export-listing": "Export listing"). It is shown as text, never as HTML.
    title = None

    #: The names of the posted fields that "Back to the form" posts again
    #: (formvalues.py): None, every plain value that is no credential and
    #: whose name does not look secret; ``()``, none; a tuple of names,
    #: only those (of the same plain values).
    form_fields = None

    #: Start later: when the job may start, an aware ``datetime`` (or a naive
    #: one, read as the server's local time), or a method that computes it
    #: from the request (``self.request.form``). The process is then
    #: *scheduled*: its page says "Scheduled for 14:00" and it waits in the
    #: database (an instance's restart loses nothing), cancellable, until an
    #: instance with a pool queues it at its time (within about a second,
    #: ``claim-interval``). None, or a time that has come: it starts now.
    run_after = None

    #: How urgent the job is: an int from -100 to 100 (Django's range), or a
    #: method that computes one. Among waiting jobs a higher one starts
    #: first, equal ones in arrival order; a job's priority rises by one
    #: step per ``scheduling.AGING`` seconds it waits, so that a low one is
    #: never starved. Out of range: the start fails (500, logged).
    priority = 0

    #: Which queue the job waits in (queues.py): a short name ("exports"), or
    #: a method that computes one; None, the default queue (1.x's way). Only
    #: an instance serving it (its ``queues`` setting: all by default) runs
    #: it: one that does not leaves it in the database, unclaimed, and its
    #: page says "Waiting for a worker of 'exports'" while no live instance
    #: serves it.
    queue = None

    #: Seconds the job may run; None: no limit (1.x's way). Past it, the job
    #: is stopped at its next ``set_progress`` or ``is_cancelled()``, as by
    #: a cancel, and its process ends *timed out*. A job that never reports
    #: is marked timed out by housekeeping once its limit and
    #: ``timelimits.GRACE`` are over, on any instance; its thread is left
    #: to end (Python cannot kill a thread), and whatever it ends with is
    #: discarded: its result, its transaction's work.
    time_limit = None

    #: ``"owner"``: a ``dedupe_key`` holds for each owner apart (another
    #: owner's start of the same key starts a process of its own).
    #: ``"site"``: for everyone in the site; a second starter who is not
    #: the process's owner (nor a manager of the site) is told that it runs
    #: already, started by someone else (409), and nothing more of it.
    dedupe_scope = "owner"

    def dedupe_key(self):
        """Only once: a text that names what this start would do, or None (the default: every start starts a job).

        While a process started with the same key (in ``dedupe_scope``, in
        this site) waits or runs, a new start starts nothing: the browser
        is sent to that process's page (303), a script gets 200 and its id.
        The key is compared as it is, across views: put the view's name in
        it if two views must not share one. Computed from the starting
        request (``self.request.form``), before anything is written.
        """
        return None

    def __call__(self, *args, **kwargs):
        no_process = kwargs.pop("no_process", False)
        if formvalues.is_back(self.request):  # "Back to the form": the form, refilled; nothing starts
            _drop_marker(self.request)
        elif not no_process:
            attempt = worker.attempt_for(self.request, self.__name__)
            if attempt is not None:  # the job's request, published here after all
                return self._run_job(attempt)
            if self.run_process():
                return self._start()
        page = self.initial_page
        if page is None:
            page = getattr(self, "index", None)
        return "" if page is None else page(*args, **kwargs)

    def __run__(self, *args, **kwargs):
        """The job. Override it; what it returns is the result page."""
        raise NotImplementedError(f"{type(self).__name__} has no __run__")

    def run_process(self):
        """Whether this request starts the job: by default, if it is a POST."""
        return self.request.get("REQUEST_METHOD", "GET").upper() == "POST"

    def _run(self):
        """Start the job for this request; returns its process id.

        ``__call__`` calls it for a request that ``run_process()`` accepts;
        call it from your own ``__call__`` to start a job and answer as you
        like (1.x's way), e.g. ``{"process_id": ...}`` to a script. The job
        starts once the request's transaction commits. Raises
        ``StartRefusedError`` (403) without a valid CSRF token where one is
        required, ``BadStartError`` (a BadRequest, 400) when the form lacks
        an argument of ``__run__`` or the context is no object of the
        database (a browser view: it has no path to find the process by),
        and ``QueueFullError`` (503) when ``queue-limit`` jobs wait to start
        already; nothing is written then. ``__call__`` answers each with a
        page of its own (or JSON), without raising: a view that calls
        ``_run`` itself answers them as it likes (``bad_start_page``,
        ``refused_page``, ``busy_page``), or Zope logs what it raises.
        A "Back to the form" POST (``formvalues.MARKER`` in its form) starts
        nothing: ``BadStartError``, before anything else is checked.
        Only once (``dedupe_key``): while a process of the same key waits
        or runs, it returns that process's id and starts nothing, or raises
        ``AlreadyRunningError`` (409) if it is another owner's, site-wide.
        """
        return self._begin()[0]

    def _begin(self):
        """``_run``'s work: ``(process id, whether it started)``; not started: an only-once job's process that runs."""
        request = self.request
        if formvalues.is_back(request):
            raise BadStartError("This is the way back to the form: nothing starts from it.", BACK_TO_FORM)
        if not protect.passes_csrf_check(request):
            raise StartRefusedError("The form could not be sent: its CSRF token is missing or wrong.")
        process_id = registry.new_process_id()
        _arguments(self.__run__, request, process_id=process_id)  # 400 now, not a failure later
        context_path = physical_path(self.context)
        if context_path is None:  # a browser view, a resource: nothing to run on, nor to find the process by
            raise BadStartError("A process runs on an object of the site: this URL's context is none.", NO_CONTEXT)
        connection = self._connection()
        time_limit = timelimits.limit_of(self)
        owner, anonymous_key = owners.owner_of(request)
        site = owners.site_path(self.context)
        dedupe = self._dedupe_entry(site, registry.owner_key_of(owner, anonymous_key))
        if dedupe is not None:
            held = registry.holder(connection, dedupe, settings.get("heartbeat-timeout"))
            if held is not None:  # only once: that process answers
                if not self.processes.may_see(held):  # site-wide, another owner's: nothing of it
                    raise AlreadyRunningError("This is already running, started by someone else.")
                return held.process_id, False
        start = StartSettings.read()  # once: the record, the Job and the pool share what it gives
        queue = queues.queue_of(self)  # an integrator's error raises: 500, logged
        runs_here = start.runs_here and queues.serves(queue)  # else it waits in the database for an instance serving its queue
        _check_queue(request, connection, start, site if start.site_job_threads else None, runs_here, queue)
        address_key = anonymous.check_start(request, connection, runs_here, process_id, queue)  # None for a user
        record = registry.ProcessRecord(
            process_id,
            view_name=self.__name__,
            context_path=context_path,
            owner=owner,
            anonymous_key=anonymous_key,
            site=site,
        )
        # The site's expiry, where it sets one; else that of the instance
        # that forgets it applies.
        record.expiry = start.expiry
        record.mail = mail_wanted(self, process_id, owner)  # notify = "mail": what the mail needs
        site_names = scrub.site_login_names(request)  # read once: the form values and the job drop them
        record.form_values = formvalues.kept_values(request, self.form_fields, site_names)  # "Back to the form" posts them
        record.time_limit = time_limit
        record.dedupe = dedupe  # ``registry.add`` writes it in the only-once index, with the record
        if owner is None:  # an anonymous visitor's: capped by its address, kept less long
            record.address_key = address_key
            record.expiry = anonymous.expiry(record.expiry)
        # The site's caps, where it sets them, kept for the instance that runs
        # the job (else that instance's apply).
        record.priority = scheduling.priority_of(self)  # an integrator's error raises: 500, logged
        record.queue = queue
        run_after = scheduling.run_after_of(self)
        if run_after is not None:  # start later: it waits in the database (scheduled) for its time
            record.schedule(run_after)
        limits = JobLimits.at_start(record, start)
        limits.keep_in(record)
        db = connection.db()
        job = worker.Job.from_request(request, process_id, self.__name__, db, limits, site_names)
        retryable = retries.keep_for_retry(self, record)  # a retry needs its request after it ended
        stored = None
        if not runs_here or self.rerun_interrupted or run_after is not None or retryable:  # another instance may run it
            stored = job.stored(connection)  # in the request's transaction: new objects only (its blob), no conflict
            record.max_reruns = max(0, int(self.max_reruns)) if self.rerun_interrupted else 0
        title = jobtitle.at_start(self)  # the processing page's request will not have this one's form
        here = runs_here and run_after is None
        instance, ticket = (instance_id(), next_ticket()) if here else (registry.UNCLAIMED, None)
        if dedupe is not None:  # must conflict with a concurrent start of its key (registry.add)
            record.request = stored
            registry.add(connection, record, instance=instance, ticket=ticket, title=title)
            if here:
                worker.start_after_commit(transaction.get(), job)
            else:
                job.discard()
        else:  # added as the request commits, in a transaction of its own (startcommit.py)
            if stored is not None:
                connection.add(stored)  # committed with the request; the record's transaction takes it by its oid
            txn = transaction.get()
            startcommit.add_after_commit(
                txn, db, record, instance, ticket, title, stored, request.response, then=lambda added: _hand_over(job, here and added)
            )
            txn.addAfterAbortHook(job.body.close)
        if not here and run_after is not None and runs_here:  # this instance queues it at its time (watched from its startup)
            MAINTENANCE.watch(db)
        owners.give_secret(request)  # started: a new anonymous browser gets its cookie (a refused start, none)
        return process_id, True

    def _dedupe_entry(self, site, owner):
        """The only-once index's entry of this start (``dedupe_key``), or None."""
        key = self.dedupe_key()
        if key is None:
            return None
        return registry.dedupe_entry(key, self.dedupe_scope, site, owner)

    def set_progress(self, process_id, progress, message=None):
        """Record the job's progress, a number from 0 to 100, and a message.

        It is committed in a transaction of its own, so that other requests
        see it without the job's half-done work: the first report at once,
        then at most one write per ``progress-interval`` seconds (a report
        that comes sooner is held in memory and written when the interval is
        over, or with the job's end). The message (text, or an i18n message
        translated for each viewer) stays until another replaces it. Once a
        cancel was asked, it raises ``ProcessCancelled`` instead: let it end
        ``__run__``. Past the view's ``time_limit``, it raises it too, and
        the process ends timed out.
        """
        progress = registry.normalize_progress(progress)
        if cancel_asked(process_id) or timelimits.past(process_id):
            raise ProcessCancelled(process_id)
        db, interval = self.__dict__.get("_reporting") or self._start_reporting()
        held = REPORTS.hold(process_id, db, progress, message, interval)
        if held is not None:
            if held is Held.FIRST:
                MAINTENANCE.poke()  # it writes the report once the interval is over
            return
        report = write_report(db, process_id, progress, message)
        if report is Report.NO_RECORD:
            raise NoSuchProcessError("No such process")
        REPORTS.written(process_id)
        if report.stops_job:  # a cancel asked, or a record no longer active (interrupted meanwhile)
            ask_to_cancel(process_id)
            raise ProcessCancelled(process_id)

    def _start_reporting(self):
        """The database and ``progress-interval`` of this job's reports, read
        once per view: a job may report thousands of times."""
        self._reporting = (self._connection().db(), settings.get("progress-interval"))
        return self._reporting

    def is_cancelled(self, process_id):
        """Whether the process was asked to stop, or is past the view's ``time_limit``; cheap (no ZODB load), call it often.

        A cancel asked on this instance is seen at once; one asked on
        another instance within a heartbeat interval (``set_progress`` sees
        it at once). Once it is true, end ``__run__`` (return, or raise
        ``ProcessCancelled``): the process ends cancelled, or timed out.
        """
        return cancel_asked(process_id) or timelimits.past(process_id)

    def authenticator(self):
        """The form's hidden CSRF token input, in Plone ('' in plain Zope).

        In a template: ``<input tal:replace="structure view/authenticator" />``.
        """
        return protect.authenticator_input(self.context, self.request)

    def refused_page(self):
        """The answer to a start without a valid CSRF token."""
        title = self._translate(_("form_refused", default="The form could not be sent."))
        return self._page(self.refused_template.macros["refused"], title)

    def bad_start_page(self, exc):
        """The answer to a start that cannot be (``BadStartError``): what is wrong, and the way back."""
        title = self._translate(_("bad_start", default="Nothing was started: the request is incomplete."))
        reason = self._translate(exc.reason) if getattr(exc, "reason", None) is not None else str(exc)
        return self._page(self.refused_template.macros["bad_start"], title, reason=reason)

    def already_running_page(self):
        """The answer to a second start of an only-once job that another owner's process holds (site-wide)."""
        title = self._translate(STARTED_BY_SOMEONE_ELSE)
        return self._page(self.refused_template.macros["already_running"], title)

    def busy_page(self):
        """The answer to a start while ``queue-limit`` jobs wait already."""
        title = self._translate(_("queue_full", default="Too many processes are waiting to start."))
        return self._page(self.refused_template.macros["busy"], title)

    refused_template = ViewPageTemplateFile("browser/templates/refused.pt")

    # Publishing: the status pages below the view, and the job's request.

    def publishTraverse(self, request, name):
        if name in NAMES:
            return StatusPage(self, name)
        default = getattr(super(), "publishTraverse", None)
        if default is None:
            raise NotFound(self, name, request)
        return default(request, name)

    def browserDefault(self, request):
        """What Zope publishes at the end of the view's path: in the job's request, the job.

        As 1.x replaced the published callable, the job runs ``__run__``
        whatever the view's ``__call__`` does (1.x clients override it to
        call ``_run``); ``JobCall`` also tells Zope who the job runs as.
        """
        attempt = worker.attempt_for(request, self.__name__)
        if attempt is not None:
            return JobCall(self, attempt), ()
        default = getattr(super(), "browserDefault", None)
        return (self, ()) if default is None else default(request)

    def _start(self):
        """Start the job: a browser is sent to the processing page (303), a
        script that accepts JSON gets 202 Accepted and the status's URLs."""
        response = self.request.response
        wants_json = _wants_json(self.request)
        try:
            process_id, started = self._begin()
        except StartRefusedError as exc:
            response.setStatus(403)
            return self._json({"error": str(exc)}) if wants_json else self.refused_page()
        except QueueFullError as exc:
            response.setStatus(503)
            return self._json({"error": str(exc)}) if wants_json else self.busy_page()
        except BadRequest as exc:  # BadStartError: an answer, not an error, nothing for the error log
            response.setStatus(400)
            return self._json({"error": str(exc)}) if wants_json else self.bad_start_page(exc)
        except AlreadyRunningError:  # only once, another owner's: no id, no link
            response.setStatus(409)
            if wants_json:
                return self._json({"error": self._translate(STARTED_BY_SOMEONE_ELSE), "already_running": True})
            return self.already_running_page()
        if not started:  # only once: the process that runs already (perhaps of another view, or context)
            return self._already_started(process_id, wants_json)
        if not wants_json:
            response.redirect(self.status_url("processing", process_id), status=303)
            return ""
        status_url = f"{self.status_url('completed', process_id)}&output_json=1"
        answer = {"process_id": process_id, "status_url": status_url, "result_url": self.status_url("result", process_id)}
        response.setStatus(202)
        response.setHeader("Location", status_url)
        return self._json(answer)

    def _already_started(self, process_id, wants_json):
        """The answer to a start of an only-once job whose process waits or runs:
        a browser goes to its processing page (303), a script gets 200, its id and status."""
        record = self.processes.find(process_id)
        status = self.processes.status(record)
        if not wants_json:
            self.request.response.redirect(status.url("processing"), status=303)
            return ""
        self.request.response.setStatus(200)
        return self._json(
            {
                "process_id": process_id,
                "status_url": f"{status.url('completed')}&output_json=1",
                "result_url": status.url("result"),
                "already_running": True,
                "status": self.status(record),
            }
        )

    def _run_job(self, attempt):
        """Call ``__run__`` in the job's request and tell ``attempt`` how it went."""
        protect.trust_job(self.request)
        attempt.retry_after_commit = bool(self.retry_after_commit)
        arguments = _arguments(self.__run__, self.request, process_id=attempt.process_id)
        if self.time_limit is not None:  # its deadline: the record's start and limit (one load, for a limited job only)
            timelimits.begin(attempt.process_id, registry.find(self._connection(), attempt.process_id))
        try:
            return self._run_timed(attempt, arguments)
        finally:
            timelimits.end(attempt.process_id)

    def _run_timed(self, attempt, arguments):
        """``_run_job``'s call of ``__run__``; a job past its time limit ends timed out, its work discarded."""
        with attempt.watching_commits(transaction.manager):
            try:
                result = self.__run__(**arguments)
            except TransientError as exc:
                attempt.conflicted(exc)
                raise  # Zope's retry: the worker publishes the request again
            except ProcessCancelled:
                transaction.doom()
                attempt.cancelled()
                return ""
            except HTTPRedirection as exc:
                # As Zope's publisher: the answer is the redirect, the
                # transaction is aborted.
                _redirect(self.request.response, exc)
                transaction.doom()
                attempt.redirected()
                return ""
            except BaseException as exc:  # SystemExit too: the job's thread must not die silently
                attempt.auto_retry = retries.wanted(self, exc)  # retry_on: its next attempt's backoff, or None
                attempt.failed(exc)
                transaction.doom()
                return ""
        pid = attempt.process_id
        if timelimits.limited(pid) and (timelimits.past(pid) or timelimits.given_up(self._connection().db(), pid)):
            # Too late: its process ends (or was marked by housekeeping) timed out.
            logger.warning("Process %s returned past its time limit: its result and work are discarded", attempt.process_id)
            transaction.doom()
            attempt.cancelled()
            return ""
        attempt.succeeded(transaction.get())
        return result


class JobCall:
    """The job's request, published: authenticated as the job's user, it runs ``__run__``.

    Zope asks the published object for its user folder before any other
    (``__allow_groups__``): this one answers with the ``JobUser`` of the
    job (see identity.py), so that the job runs as the user who started it
    with no credential in its request. It is published with the roles of
    the view itself.
    """

    def __init__(self, view, attempt):
        self.view = view
        self.attempt = attempt

    @property
    def __allow_groups__(self):
        if self.attempt.user is None:  # Anonymous: no user folder of its own
            raise AttributeError("__allow_groups__")
        return self.attempt.user

    def __call__(self):
        """Run the job, and tell the worker's attempt how it went."""
        return self.view._run_job(self.attempt)


def _hand_over(job, to_pool):
    """A job whose record was added after its request committed (startcommit.py): to the pool, or its body freed."""
    if to_pool:
        worker.submit(job)
    else:
        job.discard()


def _wants_json(request):
    """Whether the request asks for JSON rather than a page (``Accept``)."""
    accept = request.getHeader("Accept", "") or ""
    return "application/json" in accept and "text/html" not in accept


def _drop_marker(request):
    """Take ``formvalues.MARKER`` out of the request: the form's template sees the values alone."""
    request.form.pop(formvalues.MARKER, None)
    other = getattr(request, "other", None)
    if isinstance(other, dict):
        other.pop(formvalues.MARKER, None)


def _redirect(response, exc):
    location = getattr(exc, "headers", {}).get("Location")
    if location:
        response.redirect(location, status=exc.getStatus())
    else:  # 304 Not Modified
        response.setStatus(exc.getStatus())


def _arguments(func, request, **given):
    """``func``'s arguments from the request, by name, as Zope's publisher maps them.

    ``given`` comes first; a ``**kwargs`` gets every form value.
    """
    arguments = {}
    missing = []
    for name, parameter in signature(func).parameters.items():
        if parameter.kind == Parameter.VAR_KEYWORD:
            arguments.update((key, value) for key, value in request.form.items() if key not in arguments)
            arguments.update(given)
        elif parameter.kind in (Parameter.POSITIONAL_OR_KEYWORD, Parameter.KEYWORD_ONLY):
            if name in given:
                arguments[name] = given[name]
            elif (value := request.get(name, _MISSING)) is not _MISSING:
                arguments[name] = value
            elif parameter.default is Parameter.empty:
                missing.append(name)
    if missing:
        fields = ", ".join(missing)
        raise BadStartError(
            f"Missing from the form: {fields}",
            _("bad_start_missing", default="The form lacks what the process needs: ${fields}.", mapping={"fields": fields}),
        )
    return arguments


_MISSING = object()
NO_CONTEXT = _(
    "bad_start_no_context",
    default="No process can run at this address: open the form on a page of the site and send it from there.",
)

BACK_TO_FORM = _(
    "bad_start_back_to_form",
    default="This is the way back to the form: nothing was started. Open the form and send it from there.",
)


def _check_queue(request, connection, start, capped_site=None, runs_here=None, queue=None):
    """Refuse a start that would wait behind ``queue-limit`` jobs (``start``:
    its ``StartSettings``): in this instance's queue, or, on a front-end,
    unclaimed in the database in its own queue (``queue``: the job's, None
    the default one; a backlog of another queue blocks no start of this
    one: ``registry.waiting_in``). The answer says when to try again
    (``Retry-After``), also to a 1.x view that calls ``_run`` itself.
    ``capped_site``: the site of the job, if it caps how many of its jobs
    run at once (its queued ones count too). ``runs_here``: whether the job
    would run in this instance's pool (not where it does not serve the job's
    queue); None: ``start.runs_here``."""
    limit = start.queue_limit
    if not limit:
        return
    if start.runs_here if runs_here is None else runs_here:
        waiting = POOL.waiting(owners.caller_key(request), capped_site)
    else:
        waiting = registry.waiting_in(connection.root(), queue)  # its own queue's; small objects, however many wait
    if waiting >= limit:
        request.response.setHeader("Retry-After", str(QueueFullError.retry_after))
        raise QueueFullError(f"Too many processes are waiting to start ({waiting}); try again later.")
