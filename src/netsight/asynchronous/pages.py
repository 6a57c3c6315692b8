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

from AccessControl.ZopeSecurityPolicy import getRoles
from Acquisition import aq_chain
from Acquisition import aq_inner
from inspect import Parameter
from inspect import signature
from pathlib import Path
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from urllib.parse import quote
from zExceptions import MethodNotAllowed
from zope.component import queryMultiAdapter
from zope.component.hooks import getSite
from zope.i18n import translate
from zope.interface import alsoProvides
from zope.traversing.browser.absoluteurl import absoluteURL
from ZPublisher.mapply import mapply

from netsight.asynchronous import formvalues
from netsight.asynchronous import internals
from netsight.asynchronous import jobtitle
from netsight.asynchronous import owners
from netsight.asynchronous import protect
from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous.exceptions import MissingProcessIdError
from netsight.asynchronous.exceptions import NoSuchProcessError
from netsight.asynchronous.exceptions import ResultShownError
from netsight.asynchronous.exceptions import ThreadDiedBeforeCompletionError
from netsight.asynchronous.i18n import _
from netsight.asynchronous.instance import cancel as cancel_process
from netsight.asynchronous.interfaces import IOwnPage
from netsight.asynchronous.replay import NOT_SHARED

import hashlib
import json
import re
import time
import transaction


PROCESS_ID = re.compile(r"[0-9a-f]{32}")
NAMES = ("processing", "completed", "result", "cancel")
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
# plone.transformchain leaves a request alone that carries this key.
NO_TRANSFORM = "plone.transformchain.disable"
BROWSER = Path(__file__).parent / "browser"
ENDED_WITHOUT_RESULT = {
    registry.FAILED: _("process_failed", default="The process failed."),
    registry.CANCELLED: _("process_cancelled", default="The process was cancelled."),
    registry.INTERRUPTED: _(
        "process_interrupted", default="The server was stopped before the process completed."
    ),
}
# What each state is called: the lists' state column (My processes, All
# processes) and the status line of a process that ended without a result.
STATE_TEXTS = {
    registry.QUEUED: _("state_queued", default="Waiting to start"),
    registry.RUNNING: _("state_running", default="Running"),
    registry.DONE: _("state_done", default="Done: the result is ready"),
    registry.FAILED: _("state_failed", default="Failed"),
    registry.CANCELLED: _("state_cancelled", default="Cancelled"),
    registry.INTERRUPTED: _("state_interrupted", default="Interrupted: the server was stopped"),
}
ENDED_STATUS = {state: STATE_TEXTS[state] for state in ENDED_WITHOUT_RESULT}
# How the page shows each end without a result: Bootstrap's alert of its kind.
ENDED_ALERT = {
    registry.FAILED: "alert-danger",
    registry.CANCELLED: "alert-secondary",
    registry.INTERRUPTED: "alert-warning",
}
TITLE_SEPARATOR = " \N{EM DASH} "  # between the status and the job's title in the browser's title
RESTARTED = _("process_restarted", default="The server was stopped before the process completed: it starts again.")
NO_SUCH_PROCESS = _("no_such_process", default="There is no such process, or its result was already shown.")
RESULT_SHOWN = _("result_shown", default="This result was already shown.")


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
        state = self._state(record)
        if state == registry.DONE and self._shown(record):
            self.request.response.setStatus(410)
            return self.shown_page()
        if state == registry.DONE:
            self.request.response.redirect(self.status_url("result", process_id))
            return ""
        if state != registry.CANCELLED:  # a cancel is no error: its page, 200
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
            if self._shown(record):
                raise ResultShownError("The result was already shown.")
            return _completion(record)
        return self._json_status(process_id)

    def result(self, process_id=None, output_json=False):
        """The response ``__run__`` produced, once (or until ``keep_result``
        seconds after it was first shown); None while it runs.

        With ``output_json``, a process that is not done answers its status
        as JSON, as ``completed`` does. A HEAD request gets the headers and
        leaves the result in place. The result's ``Cache-Control`` is
        private unless the view sets ``public_result``. A result that was
        shown and is gone raises ``ResultShownError`` (410: its page says so).
        """
        self._not_cached()
        if is_true(output_json):
            record = self._find(process_id)
            if record is None or self._state(record) != registry.DONE or self._shown(record):
                return self._json_status(process_id)
        record = self._record(process_id)
        if self._state(record) != registry.DONE:
            self._raise_if_failed(record)
            self.request.response.setStatus(204)
            return None
        if self._shown(record):
            raise ResultShownError("The result was already shown.")
        self.request.environ[NO_TRANSFORM] = True
        if self.request.get("REQUEST_METHOD", "GET").upper() == "HEAD":
            return record.result.response.replay_headers(self.request.response, public=self.public_result)
        now = time.time()
        captured = registry.take(self._connection().db(), process_id, self._keep_until(record, now), now)
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
        self._not_cached()
        if request.get("REQUEST_METHOD", "GET").upper() != "POST":
            raise MethodNotAllowed("cancel needs a POST")
        self._record(process_id)  # NoSuchProcessError (404) unless the request may see it
        wants_json = is_true(output_json) or "application/json" in request.getHeader("Accept", "")
        if not protect.authenticated(request):
            request.response.setStatus(403)
            return self._json_status(process_id) if wants_json else self.refused_page()
        cancel_process(self._connection().db(), process_id)
        if wants_json:
            self.read_anew()  # the request's own connection still sees the state before
            return self._json_status(process_id)
        request.response.redirect(self.status_url("processing", process_id), status=303)
        return ""

    def status(self, record):
        """What the processing page and ``completed`` JSON say of a process."""
        state = self._state(record)
        ended_badly = state in ENDED_WITHOUT_RESULT
        restarting = state == registry.QUEUED and (record.reruns or record.state != registry.QUEUED)
        if ended_badly:
            completed = "ERROR"
        elif restarting and record.state != registry.QUEUED:
            completed = False  # it starts again from the start
        else:
            completed = _completion(record)
        start = record.started or record.created
        elapsed = (record.finished or time.time()) - start
        status = {
            "process_id": record.process_id,
            "state": state,
            "title": self.job_title(record),
            "completed": completed,
            "progress": completed,
            "progress_message": self._progress_message(completed, state),
            "message": self._translate(record.message or ""),
            "elapsed": round(elapsed, 1),
            "remaining": _remaining(completed, elapsed) if record.started and state == registry.RUNNING else None,
        }
        if state == registry.QUEUED:
            ahead = registry.queue_position(self._connection(), record) or 0
            status["queue_position"] = ahead
            status["progress_message"] = self._translate(
                _("waiting_ahead", default="Waiting to start (${ahead} ahead)", mapping={"ahead": ahead})
                if ahead
                else _("waiting", default="Waiting to start")
            )
            if restarting:  # queued again, or about to be
                status["restarted"] = True
                status["message"] = self._translate(RESTARTED)
        elif state == registry.RUNNING and record.cancel_requested:
            status["cancelling"] = True
            status["progress_message"] = self._translate(_("cancelling", default="Cancelling..."))
        if record.reruns:  # it was queued again: it says so while it runs again, and once it ended
            status["restarted"] = True
        if ended_badly:
            status["error"] = self._translate(ENDED_WITHOUT_RESULT[state])
            if owners.is_manager(self.request, record.site) and record.error:
                status["error_detail"] = record.error
        return status

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
        if record is None or not owners.owns(record, self.request):
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
        site = getSite()
        base = site.absolute_url() if hasattr(site, "absolute_url") else self.request["BASE1"]
        return f"{base}/++resource++{name}?v={_version(name)}"

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

    def job_title(self, record):
        """What the pages call the record's job, translated: the title kept at
        its start, else its view's default (``jobtitle``)."""
        title = record.title
        if title is None:  # started before jobs had titles
            title = jobtitle.default(record.view_name, self.context, self.request)
        return jobtitle.shown(title, self.request)

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
        """The processing page's texts of time; ``{time}`` in the script's copies."""
        texts = {}
        for key, msgid, default in (
            ("elapsed", "elapsed_time", "Elapsed: ${time}"),
            ("remaining", "time_remaining", "About ${time} left"),
        ):
            seconds = status[key]
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
        """A page of ours: in Plone's main template if there is one, else standalone.

        Plone's main template renders only on an object of the database: a
        context without a path (a browser view, a resource) gets the
        standalone page.
        """
        self.page_title = page_title
        alsoProvides(self, IOwnPage)
        if (
            physical_path(self.context) is None
            or queryMultiAdapter((self.context, self.request), name="main_template") is None
        ):
            return self.standalone_template(body=body, **options)
        return self.plone_template(body=body, **options)

    def _processing_page(self, status):
        page = self.processing_page
        return page(**_accepted(page, status, always=("process_id",)))

    # Internals.

    def _json_status(self, process_id):
        try:
            record = self._record(process_id)
            if self._shown(record):
                raise ResultShownError("The result was already shown.")
            answer = self.status(record)
        except ResultShownError:
            self.request.response.setStatus(410)
            answer = {
                "process_id": process_id,
                "state": "shown",
                "completed": "ERROR",
                "progress": "ERROR",
                "error": self._translate(RESULT_SHOWN),
            }
        except NoSuchProcessError:
            self.request.response.setStatus(404)
            answer = {
                "state": "unknown",
                "completed": "ERROR",
                "progress": "ERROR",
                "error": self._translate(NO_SUCH_PROCESS),
            }
        return self._json(answer)

    def _json(self, answer):
        """``answer`` as JSON, not to be cached."""
        self._not_cached()
        self.request.response.setHeader("Content-Type", "application/json")
        return json.dumps(answer)

    def _connection(self):
        """The connection of the main database: the one of the Zope application.

        It holds the registry, even when the context lives in a mounted
        database (a Plone site in a second ``<zodb_db>``).
        """
        fresh = getattr(self, "_fresh", None)
        if fresh is not None:
            return fresh
        parents = self.request.get("PARENTS") or ()
        jars = [getattr(obj, "_p_jar", None) for obj in (*aq_chain(aq_inner(self.context)), *parents[-1:])]
        jars = [jar for jar in jars if jar is not None]
        return jars[-1]

    def read_anew(self):
        """From now on, read the registry through a new connection, which sees
        what was committed meanwhile (closed with the request); returns it."""
        self._fresh = new_connection(self.request, self._connection().db())
        return self._fresh

    def _find(self, process_id):
        """The record of ``process_id`` if the request may see it, else None."""
        if not isinstance(process_id, str) or not PROCESS_ID.fullmatch(process_id):
            return None
        # A context without a path of its own (a browser view, a resource, a
        # method) started no process: decided before any record is read, so
        # that nothing below can answer differently for an id that exists.
        context_path = physical_path(self.context)
        if context_path is None:
            return None
        record = registry.find(self._connection(), process_id)
        if record is None:
            record = self._find_after_sync(process_id)
        # Someone else's process, or one of another view or context, is as
        # unknown as one that does not exist.
        if (
            record is None
            or expired(record)
            or record.view_name != self.__name__
            or record.context_path != context_path
            or not owners.may_see(record, self.request)
        ):
            return None
        return record

    def _find_after_sync(self, process_id):
        """The record, read anew once the storage has caught up with its server.

        On a ZEO client, a record that another instance committed a moment
        ago may not have reached this instance's view of the database yet
        (invalidations arrive asynchronously): the browser that the other
        instance just redirected here would read 404. A round trip to the
        server (``ping``) brings them; a new connection then sees the
        record, and serves the rest of this request. Unknown ids cost that
        round trip; a storage without a server (FileStorage) none.
        """
        if getattr(self, "_fresh", None) is not None:
            return None
        self._fresh = caught_up(self.request, self._connection())
        return None if self._fresh is None else registry.find(self._fresh, process_id)

    def _record(self, process_id):
        if not process_id:
            raise MissingProcessIdError("The request names no process_id.")
        record = self._find(process_id)
        if record is None:
            raise NoSuchProcessError("No such process")
        return record

    def _shown(self, record):
        """Whether a done record's result was shown and is gone (``ProcessRecord.result_gone``)."""
        return record.result_gone()

    def _keep_until(self, record, now):
        """Until when a result taken ``now`` stays to be seen again (``keep_result``
        seconds, at most the process's expiry); None: it is shown once."""
        try:
            keep = float(self.keep_result or 0)
        except (TypeError, ValueError):
            keep = 0
        if keep <= 0:
            return None
        return min(now + keep, record.finished + expiry_of(record))

    def _state(self, record):
        """What the record reads as: its instance may have stopped or died meanwhile."""
        return registry.effective_state(self._connection(), record, settings.get("heartbeat-timeout"))

    def _raise_if_failed(self, record):
        if self._state(record) in ENDED_WITHOUT_RESULT:
            raise ThreadDiedBeforeCompletionError(
                "The process died before it completed.",
                page=lambda: self._processing_page(self.status(record)),
            )

    def _progress_message(self, completed, state=None):
        if state in ENDED_STATUS:  # not "Processing...": it ended
            return self._translate(ENDED_STATUS[state])
        if not registry.is_number(completed):
            return self._translate(_("processing_title", default="Processing..."))
        return self._translate(
            _("percentage_completion", default="${percentage}% completed...", mapping={"percentage": completed})
        )

    def _translate(self, message):
        return translate(message, context=self.request)

    def _not_cached(self):
        """No cache keeps this answer: it is one user's, and it changes."""
        self.request.response.setHeader("Cache-Control", NOT_SHARED)


def physical_path(obj):
    """The path of ``obj`` in the database, as a record keeps it ("/plone/folder");
    None for an object without one of its own (a browser view, a resource, a method)."""
    get_path = getattr(obj, "getPhysicalPath", None)
    if not callable(get_path):
        return None
    try:
        path = get_path()
    except (AttributeError, TypeError):  # acquired from a parent by an object without an id of its own
        return None
    if not isinstance(path, (tuple, list)) or not all(isinstance(part, str) for part in path):
        return None
    return "/".join(path)


def url_of(obj, request):
    """The URL of ``obj``: its ``absolute_url()``, else what its ``absolute_url`` view
    says (a browser view, a resource); "" if it cannot tell."""
    absolute_url = getattr(obj, "absolute_url", None)
    if callable(absolute_url):
        return absolute_url()
    try:
        return absoluteURL(obj, request)
    except TypeError:  # not enough context to tell
        return ""


def new_connection(request, db):
    """A new connection of ``db``, which sees what was committed up to now; closed with ``request``."""
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    internals.hold(request, _Closing(connection, manager))
    return connection


def caught_up(request, connection):
    """A new connection (closed with ``request``) that sees all that the
    storage's server committed before this call, for a storage with a server
    (ZEO: one round trip, ``ping``); None for one without (FileStorage)."""
    ping = getattr(connection.db().storage, "ping", None)
    if ping is None:
        return None
    ping()
    return new_connection(request, connection.db())


class _Closing:
    """Closes a connection when the request that holds it goes."""

    def __init__(self, connection, manager):
        self.connection = connection
        self.manager = manager

    def __del__(self):
        self.manager.abort()
        self.connection.close()


class StatusPage:
    """``processing``, ``completed`` or ``result`` of a process, below its view.

    It is published with the permission of the view itself, whether or not
    the view's ZCML names the page in ``allowed_attributes``.
    """

    def __init__(self, view, name):
        self.__parent__ = view
        self.__name__ = name
        self.__roles__ = getRoles(view.context, view.__name__, view, ("Manager",))

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
            response.setHeader("Allow", "POST")
            response.setHeader("Content-Type", "text/plain; charset=utf-8")
            return str(exc)
        except ThreadDiedBeforeCompletionError as exc:
            response.setStatus(500)
            return exc.page() if exc.page is not None else view._translate(ENDED_WITHOUT_RESULT[registry.FAILED])
        if isinstance(answer, (bool, int, float)):  # completed, without JSON
            response.setHeader("Content-Type", "text/plain; charset=utf-8")
            return json.dumps(answer)
        return answer


def is_true(value):
    """A form value as a bool: '', '0', 'false', 'no' and 'off' are false."""
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


def whole_number(value, minimum=0, maximum=None):
    """A form value as a whole number from ``minimum`` to ``maximum``, or None."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= minimum and (maximum is None or number <= maximum) else None


def app_connection(request):
    """The connection of the Zope application of ``request``: the main database's, the registry's."""
    return request["PARENTS"][-1]._p_jar


def expired(record):
    """An ended process kept longer than its expiry (its site's when it
    started, else the instance's): housekeeping removes it; it reads as gone."""
    if record.finished is None:
        return False
    return time.time() - record.finished > expiry_of(record)


def expiry_of(record):
    """How long an ended process is kept: its site's expiry when it started, else the instance's."""
    return record.expiry if record.expiry is not None else settings.instance_value("expiry")


def _completion(record):
    """``completed`` of a record that did not fail: False, a percentage, True, or 100 when done."""
    if record.state == registry.DONE:
        return record.progress
    return False if record.progress is None else record.progress


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


def _remaining(completed, elapsed):
    """Seconds left, if the progress says: the time so far, extrapolated."""
    if registry.is_number(completed) and 0 < completed < 100:
        return round(elapsed * (100 - completed) / completed, 1)
    return None


_VERSIONS = {}
_RESOURCES = {"netsight.async.js": "js", "netsight.async.images": "images"}


def _version(name):
    """A short hash of a resource file's content (computed once)."""
    if name not in _VERSIONS:
        directory, _sep, path = name.partition("/")
        file = BROWSER / _RESOURCES.get(directory, directory) / path
        try:
            digest = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
        except OSError:
            digest = "0"
        _VERSIONS[name] = digest
    return _VERSIONS[name]
