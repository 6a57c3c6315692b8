"""The status pages of a process: ``processing``, ``completed`` and ``result``.

``StatusPages`` is a part of ``BaseAsyncView``: the pages stay methods of
the view, as in 1.x (whose clients publish them as bound methods), and are
published below it as ``<view>/processing?process_id=…`` by ``StatusPage``.
They only read the registry; ``result`` takes the result, in a transaction
of its own: once (as in 1.x), or again until ``keep_result`` seconds after
it was first shown. To its owner, a result that was shown and is gone says
so (``shown_page``, 410). A process answers only on the view and context
that started it, to its owner and to the site's managers: anything else
(another context, whatever it is: a browser view, an object without a
path) gets the 404 of an unknown id. Every answer of a status page says
``Cache-Control: private, no-store`` but a replayed result, which says what
its job set, made private unless the view declares ``public_result``.
"""

from inspect import Parameter
from inspect import signature
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from urllib.parse import quote
from zExceptions import MethodNotAllowed
from zope.component.hooks import getSite
from zope.i18n import translate
from zope.interface import alsoProvides
from ZPublisher.mapply import mapply

from netsight.asynchronous import connections
from netsight.asynchronous import formvalues
from netsight.asynchronous import frames
from netsight.asynchronous import internals
from netsight.asynchronous import jobtitle
from netsight.asynchronous import protect
from netsight.asynchronous import resources
from netsight.asynchronous import retries
from netsight.asynchronous import settings
from netsight.asynchronous.exceptions import MissingProcessIdError
from netsight.asynchronous.exceptions import NoSuchProcessError
from netsight.asynchronous.exceptions import QueueFullError
from netsight.asynchronous.exceptions import ResultShownError
from netsight.asynchronous.exceptions import ThreadDiedBeforeCompletionError
from netsight.asynchronous.forminput import is_true
from netsight.asynchronous.i18n import _
from netsight.asynchronous.interfaces import IOwnPage
from netsight.asynchronous.paths import physical_path
from netsight.asynchronous.paths import url_of
from netsight.asynchronous.processes import Processes
from netsight.asynchronous.processes import ProcessState
from netsight.asynchronous.processes import RetryOutcome
from netsight.asynchronous.replay import NOT_SHARED
from netsight.asynchronous.statusjson import shown_answer
from netsight.asynchronous.statusjson import status_answer
from netsight.asynchronous.statusjson import unknown_answer
from netsight.asynchronous.statustexts import ENDED_WITHOUT_RESULT
from netsight.asynchronous.statustexts import NO_SUCH_PROCESS
from netsight.asynchronous.statustexts import RESULT_SHOWN
from netsight.asynchronous.statustexts import STARTED_BY_SOMEONE_ELSE

import json


NAMES = ("processing", "completed", "result", "cancel", "retry")
# plone.transformchain leaves a request alone that carries this key.
NO_TRANSFORM = "plone.transformchain.disable"
# How the page shows each end without a result: Bootstrap's alert of its kind.
ENDED_ALERT = {
    ProcessState.FAILED: "alert-danger",
    ProcessState.CANCELLED: "alert-secondary",
    ProcessState.INTERRUPTED: "alert-warning",
    ProcessState.TIMED_OUT: "alert-warning",
}
TITLE_SEPARATOR = " \N{EM DASH} "  # between the status and the job's title in the browser's title


class Setting:
    """A view's attribute whose value is a setting's (``settings.get``), until
    a subclass or the view itself sets its own; on the class, its default."""

    def __init__(self, name):
        self.name = name

    def __get__(self, view, cls=None):
        if view is None:
            return settings.DEFAULTS[self.name][0]
        return settings.get(self.name)


class StatusPages:
    """The pages that watch a process and hand out its result (a view mix-in)."""

    #: The processing page polls soon (``poll_start`` seconds after it loads),
    #: then ever less often (each interval ``poll_growth`` times the last),
    #: up to ``poll_interval`` seconds, which is also how often it reloads
    #: itself without JavaScript. With ``poll_at_predicted_end``, once the
    #: running job's progress tells the time left, the page polls at the
    #: job's predicted end instead (no sooner than ``poll_start``, no later
    #: than ``poll_interval``), then every half second while the job may end
    #: any moment; a job without a numeric progress keeps the growing
    #: intervals. Unless a view sets its own, they are the settings
    #: ``poll-start`` (0.25), ``poll-growth`` (1.5) and ``poll-interval``
    #: (5): zope.conf, the environment, in Plone the site's control panel.
    poll_start = Setting("poll-start")
    poll_growth = Setting("poll-growth")
    poll_interval = Setting("poll-interval")
    poll_at_predicted_end = True

    #: A result is its owner's: ``result`` replays it with ``private`` in its
    #: ``Cache-Control`` (``private, no-store`` unless the job set its own; a
    #: job's ``public`` or ``s-maxage`` is taken out) and with ``Vary: Cookie,
    #: Authorization``, so that no shared cache hands it to someone else. Set
    #: this to True if the view's results are the same for everyone and a
    #: shared cache may keep them: the job's ``Cache-Control`` is then
    #: replayed as it set it.
    public_result = False

    #: A result is shown once, as in 1.x: a reload of the result page, or a
    #: second tab that sees the end later, is told that it was already shown
    #: (with links to the form and to My processes). Set this to a number of
    #: seconds to let its owner see it again until then after it was first
    #: shown (a reload, another tab, My processes, which lists it with a
    #: Remove button), at most until the process's expiry; then it goes, its
    #: blob with it. Unless a view sets its own, it is the setting
    #: ``keep-result`` (0): zope.conf, the environment, the site's control panel.
    keep_result = Setting("keep-result")

    def processing(self, process_id=None):
        """The page to wait on; it goes to ``result`` once the job is done.

        An unknown process gets a page of its own (404) that says so and
        leads back to the form.
        """
        self._not_cached()
        try:
            record = self._record(process_id)
        except NoSuchProcessError:
            self.request.response.setStatus(404)
            return self.unknown_page()
        status = self.processes.status(record)
        if status.state == ProcessState.DONE and status.result_gone:
            self.request.response.setStatus(410)
            return self.shown_page()
        if status.state == ProcessState.DONE:
            self.request.response.redirect(self.status_url("result", process_id))
            return ""
        if status.state != ProcessState.CANCELLED:  # a cancel is no error: its page, 200
            self._raise_if_failed(record)
        return self._processing_page(self.status(record))

    def completed(self, process_id=None, output_json=False):
        """False, the progress (0-100) or True; 100 or True once ``__run__`` returned.

        A job that reported progress reads 100 at its end (as in 1.x),
        otherwise True. Raises NoSuchProcessError, or
        ThreadDiedBeforeCompletionError if the job died. With
        ``output_json`` the answer is ``status()`` as JSON, whose
        ``completed`` (also given as ``progress``) is "ERROR" then.
        """
        self._not_cached()
        if not is_true(output_json):
            record = self._record(process_id)
            self._raise_if_failed(record)
            status = self.processes.status(record)
            if status.result_gone:
                raise ResultShownError("The result was already shown.")
            return status.completed
        return self._json_status(process_id)

    def result(self, process_id=None, output_json=False):
        """The response ``__run__`` produced, once (or until ``keep_result``
        seconds after it was first shown); None while it runs.

        With ``output_json``, a process that is not done answers its status
        as JSON, as ``completed`` does. A HEAD request gets the headers and
        leaves the result in place; another method than GET, POST or HEAD
        gets a 405 and leaves it too. The result's ``Cache-Control`` is
        private unless the view sets ``public_result``. A result that was
        shown and is gone raises ``ResultShownError`` (410: its page says so).
        """
        self._not_cached()
        if is_true(output_json):
            record = self._find(process_id)
            if record is None or not self.processes.status(record).result_ready:
                return self._json_status(process_id)
        record = self._record(process_id)
        status = self.processes.status(record)
        if status.state != ProcessState.DONE:
            self._raise_if_failed(record)
            self.request.response.setStatus(204)
            return None
        if status.result_gone:
            raise ResultShownError("The result was already shown.")
        method = self.request.get("REQUEST_METHOD", "GET").upper()
        if method not in ("GET", "POST", "HEAD"):  # OPTIONS, PUT, DELETE, PROPFIND: a result is shown to a GET (or POST) only
            refused = MethodNotAllowed(f"The result is read with a GET, not a {method}.")
            refused.allow = "GET, HEAD, POST"
            raise refused
        self.request.environ[NO_TRANSFORM] = True
        if method == "HEAD":
            return record.result.response.replay_headers(self.request.response, public=self.public_result)
        captured = self.processes.take_result(record, self._keep_for())
        if captured is None:  # shown meanwhile to another request
            raise ResultShownError("The result was already shown.")
        return captured.replay(self.request.response, public=self.public_result)

    def cancel(self, process_id=None, output_json=False):
        """Ask the process to stop (a POST, with plone.protect's token for a user).

        A queued process is cancelled at once and never runs; a running one
        stops at its next ``set_progress`` (or when ``__run__`` checks
        ``is_cancelled``). Answers the status as JSON to a script
        (``output_json`` or ``Accept: application/json``), else redirects to
        the processing page.
        """
        request = self.request
        wants_json, refused = self._checked_post("cancel", process_id, output_json)
        if refused is not None:
            return refused
        self.processes.cancel(process_id)
        if wants_json:
            self.read_anew()  # the request's own connection still sees the state before
            return self._json_status(process_id)
        request.response.redirect(self.status_url("processing", process_id), status=303)
        return ""

    def retry(self, process_id=None, output_json=False):
        """Run an ended process again with the request it kept, as a new process (a POST, with plone.protect's token for a user).

        Only where the view allows it (``may_retry``), for the process's
        owner and the site's managers; to anyone else, and where the view
        does not allow it, it is the unknown id's 404. A process that may
        not be retried (not failed, interrupted or timed out, or retried
        already) answers 409. Done: 303 to the new process's processing
        page, or its status as JSON (201) to a script. As a start: beyond a
        start's caps, 503 (``busy_page``, ``Retry-After``); an only-once job
        whose key another process holds, that process's answer (``_retry_held``).
        """
        request = self.request
        wants_json, refused = self._checked_post("retry", process_id, output_json, allowed=retries.may_retry)
        if refused is not None:
            return refused
        try:
            outcome, new_id = self.processes.retry(process_id)
        except QueueFullError as exc:  # a start's caps (retrybutton.retry_now): refused as a start is, nothing written
            request.response.setStatus(503)
            return self._json({"error": str(exc)}) if wants_json else self.busy_page()
        if outcome is RetryOutcome.ALREADY_RUNNING:  # only once: the process that holds its key answers, as to a start
            return self._retry_held(new_id, wants_json)
        if outcome is not RetryOutcome.RETRIED:
            request.response.setStatus(409)
            return self._json_status(process_id) if wants_json else self._processing_page(self.status(self._record(process_id)))
        self.read_anew()  # the request's own connection does not see the new process
        if wants_json:
            request.response.setStatus(201)
            request.response.setHeader("Location", self.status_url("processing", new_id))
            return self._json_status(new_id)
        request.response.redirect(self.status_url("processing", new_id), status=303)
        return ""

    def _checked_post(self, action, process_id, output_json, allowed=None):
        """The checks of a POST that acts on ``process_id`` (``cancel``, ``retry``), in this order: a POST
        (else ``MethodNotAllowed``, 405); where the view allows ``action`` (``allowed(view)``; None: always)
        and the request may see the process (else the unknown id's 404: ``NoSuchProcessError``, or its JSON); with
        plone.protect's token (else 403). Returns ``(wants_json, refused)``: whether the answer is JSON, and
        the refused page or status to answer (None where all passed)."""
        request = self.request
        self._not_cached()
        if request.get("REQUEST_METHOD", "GET").upper() != "POST":
            raise MethodNotAllowed(f"{action} needs a POST")
        wants_json = is_true(output_json) or "application/json" in request.getHeader("Accept", "")
        try:
            if allowed is not None and not allowed(self):
                raise NoSuchProcessError("No such process")
            self._record(process_id)  # NoSuchProcessError (404) unless the request may see it
        except NoSuchProcessError:
            if not wants_json:
                raise  # the unknown id's page
            request.response.setStatus(404)
            return wants_json, self._json(unknown_answer(request))  # as ``completed`` answers it
        if not protect.passes_csrf_check(request):
            request.response.setStatus(403)
            return wants_json, (self._json_status(process_id) if wants_json else self.refused_page())
        return wants_json, None

    def _retry_held(self, holder_id, wants_json):
        """The answer to a Retry of an only-once job whose key the process ``holder_id`` holds, as to a second
        start (``BaseAsyncView._already_started``): its processing page (303), or its status as JSON (200), to
        whoever may see it; to anyone else the 409 "already running, started by someone else", and nothing of it."""
        self.read_anew()  # it may have started after this request's connection read
        holder = self.processes.find(holder_id)
        if holder is None or not self.processes.may_see(holder):
            self.request.response.setStatus(409)
            if wants_json:
                return self._json({"error": self._translate(STARTED_BY_SOMEONE_ELSE), "already_running": True})
            return self.already_running_page()
        if wants_json:
            self.request.response.setStatus(200)
            return self._json({**self.status(holder), "already_running": True})
        self.request.response.redirect(self.processes.status(holder).url("processing"), status=303)
        return ""

    def status(self, record):
        """What the processing page and ``completed`` JSON say of a process (``statusjson.status_answer``)."""
        processes = self.processes
        status = processes.status(record)
        # Whether the requester manages its site tells only what a process that ended without
        # a result says (``error_detail``): not asked at each poll of a queued or running one.
        manager = status.ended_without_result and processes.manages(record.site)
        return status_answer(status, self.request, self.job_title(record), manager)

    @property
    def processes(self):
        """The process service (``processes.Processes``) of this request, reading the main database."""
        service = self.__dict__.get("_processes")
        if service is None:
            service = self.__dict__["_processes"] = Processes(self.request, self._connection())
        return service

    # URLs.

    def view_url(self):
        """The URL of this view (its form), as ``@@name``: an item of the same name cannot hide it."""
        return f"{url_of(self.context, self.request)}/@@{self.__name__}"

    def back_values(self):
        """The ``(name, text)`` pairs that "Back to the form" posts to the form (``formvalues``).

        A status page's (a ``process_id`` in the request): those its process
        kept at its start, to its owner only (a Manager's button posts none);
        a start's own answer (refused, bad, busy): those of its request.
        Never part of a URL: the template's form posts them as hidden inputs.
        """
        process_id = self.request.form.get("process_id")
        if process_id is None:
            return formvalues.kept_values(self.request, getattr(self, "form_fields", None))
        record = self._find(process_id)
        if record is None or not self.processes.owns(record):
            return ()
        return tuple(getattr(record, "form_values", ()) or ())

    def status_url(self, page, process_id):
        """The URL of one of this view's status pages for a process."""
        return f"{self.view_url()}/{page}?process_id={process_id}"

    def login_url(self, process_id=None):
        """Where a browser whose session ended logs in again ('' in plain Zope).

        It comes back to the processing page of ``process_id``, or else to
        the URL of this request.
        """
        site = getSite()
        if site is None or not hasattr(site, "portal_url"):
            return ""
        if process_id:
            back = self.status_url("processing", process_id)
        else:
            query = self.request.get("QUERY_STRING", "")
            back = self.request.get("ACTUAL_URL", "") + (f"?{query}" if query else "")
        return f"{site.absolute_url()}/login?came_from={quote(back, safe='')}"

    def resource_url(self, name):
        """The URL of one of the add-on's resources (the script, the spinner).

        It carries a hash of the file, so that a browser never runs a
        cached script of another version.
        """
        return resources.resource_url(name, self.request)

    # The pages.

    def processing_page(self, **options):
        """The page shown while the job runs.

        Override it with a template or a method: it is given the keywords
        it accepts of ``status()`` (``process_id`` always), so the 1.x
        ``def processing_page(self, process_id=None)`` still works.
        """
        status_line = options.get("error") or options["progress_message"]
        title = options.get("title") or ""
        page_title = f"{status_line}{TITLE_SEPARATOR}{title}" if title else status_line
        return self._page(self.progress_template.macros["progress"], page_title, **options)

    def end_alert(self, state):
        """Bootstrap's alert class of the page of a process that ended in
        ``state`` without a result: danger (failed), warning (interrupted),
        secondary (cancelled); info for an unknown one."""
        return ENDED_ALERT.get(state, "alert-info")

    def retry_allowed(self):
        """Whether this view shows a Retry button on a process that may be retried (``may_retry``; retries.py)."""
        return retries.may_retry(self)

    def job_title(self, record):
        """What the pages call the record's job, translated: the title kept at
        its start, else its view's default (``jobtitle.of_process``)."""
        return jobtitle.of_process(record, self.context, self.request)

    def unknown_page(self):
        """The page of an unknown process (or one whose result was shown)."""
        title = self._translate(NO_SUCH_PROCESS)
        return self._page(self.unknown_template.macros["unknown"], title)

    def shown_page(self):
        """The page that tells a result's owner that it was already shown,
        with links to the form and to My processes (status 410, set by the caller)."""
        title = self._translate(RESULT_SHOWN)
        return self._page(self.shown_template.macros["shown"], title)

    def my_processes_url(self):
        """The URL of My processes (``@@my-processes``) of this site: the requester's processes."""
        site = getSite()
        base = site.absolute_url() if hasattr(site, "absolute_url") else self.request["BASE1"]
        return f"{base}/@@my-processes"

    def page_texts(self, status):
        """The processing page's texts of time; ``{time}`` in the script's copies. None elapsed while it is
        scheduled: nothing runs yet."""
        texts = {}
        for key, msgid, default in (
            ("elapsed", "elapsed_time", "Elapsed: ${time}"),
            ("remaining", "time_remaining", "About ${time} left"),
        ):
            seconds = None if key == "elapsed" and status["state"] == ProcessState.SCHEDULED else status[key]
            texts[f"{key}_template"] = self._translate(_(msgid, default=default, mapping={"time": "{time}"}))
            texts[key] = "" if seconds is None else texts[f"{key}_template"].replace("{time}", _clock(seconds))
        return texts

    plone_template = ViewPageTemplateFile("browser/templates/page.pt")
    standalone_template = ViewPageTemplateFile("browser/templates/standalone.pt")
    progress_template = ViewPageTemplateFile("browser/templates/progress.pt")
    unknown_template = ViewPageTemplateFile("browser/templates/unknown.pt")
    shown_template = ViewPageTemplateFile("browser/templates/shown.pt")
    back_template = ViewPageTemplateFile("browser/templates/back.pt")

    def _page(self, body, page_title, **options):
        """A page of ours: in Plone's main template inside a Plone site, else standalone (``frames.in_plone``)."""
        self.page_title = page_title
        alsoProvides(self, IOwnPage)
        if not frames.in_plone(self.context, self.request):
            return self.standalone_template(body=body, **options)
        return self.plone_template(body=body, **options)

    def _processing_page(self, status):
        page = self.processing_page
        return page(**_accepted(page, status, always=("process_id",)))

    # Internals.

    def _json_status(self, process_id):
        try:
            record = self._record(process_id)
            if self.processes.status(record).result_gone:
                raise ResultShownError("The result was already shown.")
            answer = self.status(record)
        except ResultShownError:
            self.request.response.setStatus(410)
            answer = shown_answer(process_id, self.request)
        except NoSuchProcessError:
            self.request.response.setStatus(404)
            answer = unknown_answer(self.request)
        return self._json(answer)

    def _json(self, answer):
        """``answer`` as JSON, not to be cached."""
        self._not_cached()
        self.request.response.setHeader("Content-Type", "application/json")
        return json.dumps(answer)

    def _connection(self):
        """The connection of the main database (``connections.app_connection``), which holds the registry."""
        return connections.app_connection(self.request, self.context)

    def read_anew(self):
        """From now on, read the registry through a new connection, which sees
        what was committed meanwhile (closed with the request); returns it."""
        return self.processes.read_anew()

    def _find(self, process_id):
        """The record of ``process_id`` if the request may see it on this view and context, else None."""
        # A context without a path of its own (a browser view, a resource, a
        # method) started no process: decided before any record is read, so
        # that nothing below can answer differently for an id that exists.
        context_path = physical_path(self.context)
        if context_path is None:
            return None
        # Someone else's process, or one of another view or context, is as
        # unknown as one that does not exist.
        return self.processes.visible(process_id, view_name=self.__name__, context_path=context_path)

    def _record(self, process_id):
        if not process_id:
            raise MissingProcessIdError("The request names no process_id.")
        record = self._find(process_id)
        if record is None:
            raise NoSuchProcessError("No such process")
        return record

    def _keep_for(self):
        """For how many seconds a result stays to be seen again after it was first shown (``keep_result``); 0: once."""
        try:
            keep = float(self.keep_result or 0)
        except (TypeError, ValueError):
            return 0
        return max(keep, 0)

    def _raise_if_failed(self, record):
        if self.processes.status(record).ended_without_result:
            raise ThreadDiedBeforeCompletionError(
                "The process died before it completed.",
                page=lambda: self._processing_page(self.status(record)),
            )

    def _translate(self, message):
        return translate(message, context=self.request)

    def _not_cached(self):
        """No cache keeps this answer: it is one user's, and it changes."""
        self.request.response.setHeader("Cache-Control", NOT_SHARED)


class StatusPage:
    """``processing``, ``completed`` or ``result`` of a process, below its view.

    It is published with the permission of the view itself, whether or not
    the view's ZCML names the page in ``allowed_attributes``.
    """

    def __init__(self, view, name):
        self.__parent__ = view
        self.__name__ = name
        self.__roles__ = internals.roles_of(view.context, view.__name__, view)

    def __call__(self):
        """Answer for the process named by the request's ``process_id``.

        What the view's method raises for an unknown or failed process, or
        for a ``cancel`` that is not a POST (405), is answered here, with its
        status and page: an expected answer, not an error for Zope to log
        with a traceback. No answer is for a cache to keep (only a replayed
        result says what its job set).
        """
        view = self.__parent__
        response = view.request.response
        view._not_cached()
        try:
            answer = mapply(getattr(view, self.__name__), (), view.request.form)
        except ResultShownError:
            response.setStatus(410)
            return view.shown_page()
        except NoSuchProcessError:
            response.setStatus(404)
            return view.unknown_page()
        except MissingProcessIdError as exc:
            response.setStatus(400)
            response.setHeader("Content-Type", "text/plain; charset=utf-8")
            return str(exc)
        except MethodNotAllowed as exc:
            response.setStatus(405)
            response.setHeader("Allow", getattr(exc, "allow", "POST"))  # cancel's, retry's; result's: GET, HEAD, POST
            response.setHeader("Content-Type", "text/plain; charset=utf-8")
            return str(exc)
        except ThreadDiedBeforeCompletionError as exc:
            response.setStatus(500)
            return exc.page() if exc.page is not None else view._translate(ENDED_WITHOUT_RESULT[ProcessState.FAILED])
        if isinstance(answer, (bool, int, float)):  # completed, without JSON
            response.setHeader("Content-Type", "text/plain; charset=utf-8")
            return json.dumps(answer)
        return answer


def _accepted(func, options, always=()):
    """Those of ``options`` that ``func`` takes by name (all, if it takes ``**kwargs``)."""
    try:
        parameters = signature(func).parameters.values()
    except (TypeError, ValueError):  # not introspectable: give it everything
        return options
    if any(parameter.kind == Parameter.VAR_KEYWORD for parameter in parameters):
        return options
    names = {p.name for p in parameters if p.kind in (Parameter.POSITIONAL_OR_KEYWORD, Parameter.KEYWORD_ONLY)}
    return {key: value for key, value in options.items() if key in names or key in always}


def _clock(seconds):
    """0:07, 12:30 or 1:02:03."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
