"""BaseAsyncView: a browser view whose ``__run__`` runs in the background."""

from AccessControl.ZopeSecurityPolicy import getRoles
from Acquisition import aq_chain
from Acquisition import aq_inner
from inspect import Parameter
from inspect import signature
from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from transaction.interfaces import TransientError
from urllib.parse import quote
from uuid import uuid4
from zExceptions import BadRequest
from zExceptions import NotFound
from zope.component import queryMultiAdapter
from zope.component.hooks import getSite
from zope.i18n import translate
from zope.interface import alsoProvides
from zope.interface import implementer
from zope.publisher.interfaces import IPublishTraverse
from ZPublisher.mapply import mapply

from netsight.asynchronous import _
from netsight.asynchronous import owners
from netsight.asynchronous import protect
from netsight.asynchronous import registry
from netsight.asynchronous import worker
from netsight.asynchronous.exceptions import MissingProcessIdError
from netsight.asynchronous.exceptions import NoSuchProcessError
from netsight.asynchronous.exceptions import ThreadDiedBeforeCompletionError
from netsight.asynchronous.interfaces import IOwnPage

import json
import re
import time
import transaction


PROCESS_ID = re.compile(r"[0-9a-f]{32}")
STATUS_PAGES = ("processing", "completed", "result")
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
# plone.transformchain leaves a request alone that carries this key.
NO_TRANSFORM = "plone.transformchain.disable"


@implementer(IPublishTraverse)
class BaseAsyncView(BrowserView):
    """A view whose job, ``__run__``, runs in the background.

    A request for which ``run_process()`` is true (a POST, by default)
    starts ``__run__`` in a worker thread, as the same user on the same
    context with the same form, and is redirected to ``processing``. Any
    other request gets ``initial_page``.
    """

    #: The processing page polls soon (``poll_start`` seconds after it loads),
    #: then ever less often (each interval ``poll_growth`` times the last),
    #: up to ``poll_interval`` seconds, which is also how often it reloads
    #: itself without JavaScript.
    poll_start = 0.25
    poll_growth = 1.5
    poll_interval = 5

    def __call__(self, *args, **kwargs):
        if not kwargs.pop("no_process", False):
            attempt = worker.claim(self.request, self.__name__)
            if attempt is not None:
                return self._run(attempt)
            if self.run_process():
                return self._start()
        return self.initial_page(*args, **kwargs)

    def __run__(self, *args, **kwargs):
        """The job. Override it; what it returns is the result page."""
        raise NotImplementedError(f"{type(self).__name__} has no __run__")

    def run_process(self):
        """Whether this request starts the job: by default, if it is a POST."""
        return self.request.get("REQUEST_METHOD", "GET").upper() == "POST"

    def initial_page(self, *args, **kwargs):
        """The page of a request that starts nothing: the ZCML template."""
        index = getattr(self, "index", None)
        return "" if index is None else index(*args, **kwargs)

    # The status pages, published below the view: view/processing etc.

    def publishTraverse(self, request, name):
        if name in STATUS_PAGES:
            return StatusPage(self, name)
        default = getattr(super(), "publishTraverse", None)
        if default is None:
            raise NotFound(self, name, request)
        return default(request, name)

    def processing(self, process_id=None):
        """The page to wait on; it goes to ``result`` once the job is done."""
        record = self._record(process_id)
        if record.state == registry.DONE:
            self.request.response.redirect(self.status_url("result", process_id))
            return ""
        self._completion(record)  # raises if the job died: its page says so
        self._not_cached()
        return self.processing_page(**self.status(record))

    def completed(self, process_id=None, output_json=False):
        """True once ``__run__`` returned, else False or its progress (0-100).

        Raises NoSuchProcessError, or ThreadDiedBeforeCompletionError if the
        job died. With ``output_json`` the answer is ``status()`` as JSON,
        whose ``completed`` (also given as ``progress``) is "ERROR" then.
        """
        if not _is_true(output_json):
            return self._completion(self._record(process_id))
        try:
            answer = self.status(self._record(process_id))
        except NoSuchProcessError:
            self.request.response.setStatus(404)
            answer = {
                "state": "unknown",
                "completed": "ERROR",
                "progress": "ERROR",
                "error": self._translate(
                    _("no_such_process", default="There is no such process, or its result was already shown.")
                ),
            }
        self._not_cached()
        self.request.response.setHeader("Content-Type", "application/json")
        return json.dumps(answer)

    def result(self, process_id=None):
        """The response ``__run__`` produced, once; None while it runs."""
        record = self._record(process_id)
        if record.state != registry.DONE:
            self._completion(record)  # raises if the job died
            self.request.response.setStatus(204)
            return None
        captured = registry.take(self._connection().db(), process_id)
        if captured is None:  # fetched meanwhile by another request
            raise NoSuchProcessError("No such process")
        self.request.environ[NO_TRANSFORM] = True
        return captured.replay(self.request.response)

    def status(self, record):
        """What the processing page and ``completed`` JSON say of a process."""
        completed = "ERROR" if record.state == registry.FAILED else self._completion(record)
        start = record.started or record.created
        elapsed = (record.finished or time.time()) - start
        status = {
            "process_id": record.process_id,
            "state": record.state,
            "completed": completed,
            "progress": completed,
            "progress_message": self._progress_message(completed),
            "message": self._translate(record.message or ""),
            "elapsed": round(elapsed, 1),
            "remaining": _remaining(completed, elapsed) if record.started else None,
        }
        if record.state == registry.FAILED:
            status["error"] = self._translate(_("process_failed", default="The process failed."))
            if owners.is_manager(self.context):
                status["error_detail"] = record.error
        return status

    def set_progress(self, process_id, progress, message=None):
        """Record the job's progress, a number from 0 to 100, and a message.

        It is committed at once in a transaction of its own, so that other
        requests see it without the job's half-done work. The message (text,
        or an i18n message translated for each viewer) stays until another
        replaces it.
        """
        progress = registry.normalize_progress(progress)
        found = registry.change(
            self._connection().db(),
            process_id,
            lambda record: record.report(progress, message) or True,
        )
        if found is None:
            raise NoSuchProcessError("No such process")

    def view_url(self):
        """The URL of this view: its form."""
        return f"{self.context.absolute_url()}/{self.__name__}"

    def status_url(self, page, process_id):
        """The URL of one of this view's status pages for a process."""
        return f"{self.view_url()}/{page}?process_id={process_id}"

    def login_url(self):
        """Where a browser whose session ended logs in again ('' in plain Zope)."""
        site = getSite()
        if site is None or not hasattr(site, "portal_url"):
            return ""
        came_from = quote(self.request.get("ACTUAL_URL", ""), safe="")
        return f"{site.absolute_url()}/login?came_from={came_from}"

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

    def processing_page(self, **options):
        """The page shown while the job runs, given its ``status``. Override it at will."""
        title = options.get("error") or options["progress_message"]
        return self._page(self.progress_template.macros["progress"], title, **options)

    def refused_page(self):
        """The answer to a start without a valid CSRF token."""
        title = self._translate(_("form_refused", default="The form could not be sent."))
        return self._page(self.refused_template.macros["refused"], title)

    def authenticator(self):
        """The form's hidden CSRF token input, in Plone ('' in plain Zope).

        In a template: ``<input tal:replace="structure view/authenticator" />``.
        """
        return protect.authenticator_input(self.context, self.request)

    def _page(self, body, title, **options):
        """A page of ours: in Plone's main template if there is one, else standalone."""
        self.page_title = title
        alsoProvides(self, IOwnPage)
        if queryMultiAdapter((self.context, self.request), name="main_template") is None:
            return self.standalone_template(body=body, **options)
        return self.plone_template(body=body, **options)

    plone_template = ViewPageTemplateFile("browser/templates/page.pt")
    standalone_template = ViewPageTemplateFile("browser/templates/standalone.pt")
    progress_template = ViewPageTemplateFile("browser/templates/progress.pt")
    refused_template = ViewPageTemplateFile("browser/templates/refused.pt")

    def resource_url(self, name):
        """The URL of one of the add-on's resources (the script, the spinner)."""
        site = getSite()
        base = site.absolute_url() if hasattr(site, "absolute_url") else self.request["BASE1"]
        return f"{base}/++resource++{name}"

    # Internals.

    def _start(self):
        request = self.request
        if not protect.authenticated(request):
            request.response.setStatus(403)
            return self.refused_page()
        process_id = uuid4().hex
        _arguments(self.__run__, request, process_id=process_id)  # 400 now, not a failure later
        connection = self._connection()
        owner, anonymous_key = owners.owner_of(request)
        registry.add(
            connection,
            registry.ProcessRecord(
                process_id,
                view_name=self.__name__,
                context_path="/".join(self.context.getPhysicalPath()),
                owner=owner,
                anonymous_key=anonymous_key,
            ),
        )
        job = worker.Job(request, process_id, self.__name__, connection.db())
        worker.start_after_commit(transaction.get(), job)
        request.response.redirect(self.status_url("processing", process_id), status=303)
        return ""

    def _run(self, attempt):
        protect.trust_job(self.request)
        try:
            result = self.__run__(**_arguments(self.__run__, self.request, process_id=attempt.process_id))
        except TransientError as exc:
            attempt.conflicted(exc)
            raise  # Zope's retry: the worker publishes the request again
        except Exception as exc:
            attempt.failed(exc)
            transaction.doom()
            return ""
        attempt.succeeded(transaction.get())
        return result

    def _connection(self):
        """The connection of the request (the context's, or its parents')."""
        for obj in aq_chain(aq_inner(self.context)):
            connection = getattr(obj, "_p_jar", None)
            if connection is not None:
                return connection
        return self.request["PARENTS"][-1]._p_jar

    def _record(self, process_id):
        if not process_id:
            raise MissingProcessIdError("The request names no process_id.")
        if not isinstance(process_id, str) or not PROCESS_ID.fullmatch(process_id):
            raise NoSuchProcessError("No such process")
        record = registry.find(self._connection(), process_id)
        # Someone else's process is as unknown as one that does not exist.
        if record is None or not owners.may_see(record, self.request, self.context):
            raise NoSuchProcessError("No such process")
        return record

    def _completion(self, record):
        if record.state == registry.FAILED:
            raise ThreadDiedBeforeCompletionError(
                "The process died before it completed.",
                page=lambda: self.processing_page(**self.status(record)),
            )
        if record.state == registry.DONE:
            return True
        return False if record.progress is None else record.progress

    def _progress_message(self, completed):
        if not registry.is_number(completed):
            return self._translate(_("processing_title", default="Processing..."))
        return self._translate(
            _("percentage_completion", default="${percentage}% completed...", mapping={"percentage": completed})
        )

    def _translate(self, message):
        return translate(message, context=self.request)

    def _not_cached(self):
        self.request.response.setHeader("Cache-Control", "no-store")


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
        """Answer for the process named by the request's ``process_id``."""
        view = self.__parent__
        answer = mapply(getattr(view, self.__name__), (), view.request.form)
        if isinstance(answer, (bool, int, float)):  # completed, without JSON
            view.request.response.setHeader("Content-Type", "text/plain; charset=utf-8")
            return json.dumps(answer)
        return answer


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


def _is_true(value):
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


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
        raise BadRequest(f"Missing from the form: {', '.join(missing)}")
    return arguments


_MISSING = object()
