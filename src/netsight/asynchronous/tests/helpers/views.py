"""Async views the tests publish: each one a behaviour of the seed README."""

from AccessControl import getSecurityManager
from BTrees.Length import Length
from netsight.asynchronous import BaseAsyncView
from netsight.asynchronous.i18n import _
from netsight.asynchronous.instanceid import instance_id
from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from ZODB.POSException import ConflictError
from zope.component.hooks import getSite
from zope.globalrequest import getRequest
from zope.i18n import translate
from zope.interface import providedBy
from ZPublisher.Iterators import filestream_iterator

import datetime
import hashlib
import json
import os
import queue
import tempfile
import threading
import time
import transaction
import uuid
import zExceptions


class Hello(BaseAsyncView):
    """The seed's first example, without the sleep."""

    def __run__(self, *args, **kwargs):
        return "Hello world!"


class RendersOwnTemplate(BaseAsyncView):
    """``__run__`` renders the view's ZCML template with ``no_process``."""

    def __run__(self, *args, **kwargs):
        return self.__call__(message="Hello world", no_process=True)


class MethodInitialPage(BaseAsyncView):
    """``initial_page`` as a method; starts only when the form says ``run``."""

    def run_process(self):
        return "run" in self.request.form

    def initial_page(self, *args, **kwargs):
        return "Hello world!"

    def __run__(self, *args, **kwargs):
        return "ran"


class Refilled(BaseAsyncView):
    """The README's way: starts only when the form says ``run`` (its button's name); its
    template fills its input ``n`` from the request ("Back to the form"); ``fail`` fails the job."""

    ran = []

    def run_process(self):
        return "run" in self.request.form

    def __run__(self, process_id, n="", fail=""):
        self.ran.append(process_id)
        if fail:
            raise RuntimeError(fail)
        return f"n={n}"


class RefilledFewFields(Refilled):
    """The same, keeping only ``n`` for "Back to the form" (``form_fields``)."""

    form_fields = ("n",)


class TemplateInitialPage(MethodInitialPage):
    """``initial_page`` as a ViewPageTemplateFile."""

    initial_page = ViewPageTemplateFile("templates/my_template.pt")


class Echo(BaseAsyncView):
    """Answers with what the job saw of its request, as JSON."""

    def __run__(self, process_id=None, **kwargs):
        request = self.request
        user = getSecurityManager().getUser()
        thread = threading.current_thread()
        self.request.response.setHeader("Content-Type", "application/json")
        return json.dumps(
            {
                "process_id": process_id,
                "kwargs": kwargs,
                "form": dict(request.form),
                "method": request["REQUEST_METHOD"],
                "body": request.get("BODY", b"").decode("utf-8"),
                "user": user.getId(),
                "roles": sorted(user.getRolesInContext(self.context)),
                "context": "/".join(self.context.getPhysicalPath()),
                "site": site_path(),
                "layers": [layer.__identifier__ for layer in providedBy(request)],
                "language": translate(_("processing_title"), context=request),
                "globalrequest": getRequest() is request,
                "thread": thread.name,
                "daemon": thread.daemon,
                "main_thread": thread is threading.main_thread(),
                "authorization": request._auth,
                "cookies": sorted(request.cookies),
                "csrf_header": request.getHeader("X-CSRF-TOKEN"),
                "query": request.get("QUERY_STRING", ""),
                "instance": instance_id(),
            }
        )


def site_path():
    site = getSite()
    return "/".join(site.getPhysicalPath()) if hasattr(site, "getPhysicalPath") else None


class Arguments(BaseAsyncView):
    """Form values reach ``__run__`` by name, as the publisher maps them."""

    def __run__(self, process_id, number, kind="plain"):
        return json.dumps({"process_id": process_id, "number": number, "kind": kind})


class Response(BaseAsyncView):
    """A job that makes its own response: status, headers, cookie."""

    def __run__(self, *args, **kwargs):
        response = self.request.response
        response.setStatus(201)
        response.setHeader("Content-Type", "text/csv; charset=utf-8")
        response.setHeader("X-Report", "ready")
        response.addHeader("Link", "</a>; rel=a")
        response.addHeader("Link", "</b>; rel=b")
        response.setCookie("report", "42", path="/", http_only=True)
        return "a,b\n1,2\n"


class ServerHeaders(BaseAsyncView):
    """Sets headers that belong to a connection or a server, and caching."""

    def __run__(self, process_id=None, cache="", vary=""):
        response = self.request.response
        for name, value in (("Connection", "close"), ("Server", "JobServer/1.0"), ("X-Powered-By", "Job"),
                            ("Keep-Alive", "timeout=5"), ("Date", "Thu, 01 Jan 1970 00:00:00 GMT")):
            response.setHeader(name, value)
        if cache:
            response.setHeader("Cache-Control", cache)
        if vary:
            response.setHeader("Vary", vary)
        return "headers"


class PublicServerHeaders(ServerHeaders):
    """ServerHeaders whose results are the same for everyone: a shared cache may keep them."""

    public_result = True


class Redirect(BaseAsyncView):
    def __run__(self, *args, **kwargs):
        self.request.response.redirect(self.context.absolute_url() + "/done")


class Streaming(BaseAsyncView):
    def __run__(self, *args, **kwargs):
        response = self.request.response
        response.setHeader("Content-Type", "text/plain")
        response.write(b"first\n")
        response.write(b"second\n")
        return ""


class Fails(BaseAsyncView):
    def __run__(self, *args, **kwargs):
        self.context.written_by_failed_job = "yes"
        raise ValueError("the import file is broken")


class WritesContent(BaseAsyncView):
    """Writes to the context; the job's transaction commits it."""

    def __run__(self, process_id=None, value=""):
        self.context.written_by_job = value
        return "written"


class CreatesDocument(BaseAsyncView):
    """Adds a Plone page, as an import would."""

    def __run__(self, process_id=None, title=""):
        self.context.invokeFactory("Document", process_id, title=title)
        return "created"


class ConflictsOnce(BaseAsyncView):
    """Raises ConflictError on its first attempt, as a busy site would."""

    attempts = {}

    def __run__(self, process_id=None):
        count = self.attempts[process_id] = self.attempts.get(process_id, 0) + 1
        if count == 1:
            raise ConflictError("first attempt conflicts")
        return f"attempt {count}"


class Steps:
    """A rendezvous between a test and a job that reports progress."""

    def __init__(self):
        self.reached = queue.Queue()
        self.go_on = queue.Queue()

    def job_reached(self, value, timeout=60):
        self.reached.put(value)
        self.go_on.get(timeout=timeout)


STEPS = {}


class Progress(BaseAsyncView):
    """Reports each value of the form's ``progress``, waiting for the test."""

    def __run__(self, process_id, steps, progress=(), work="", messages=()):
        rendezvous = STEPS[steps]
        for number, value in enumerate(progress):
            if work:  # half-done work that must not be committed with progress
                self.context.work_in_progress = work
            if number < len(messages):
                self.set_progress(process_id, float(value), message=messages[number])
            else:
                self.set_progress(process_id, float(value))  # the 2011 call
            rendezvous.job_reached(value)
        rendezvous.job_reached("returning")
        return "finished"


class FailsAfterStarting(BaseAsyncView):
    """Starts a process, then fails the starting request: nothing may run."""

    ran = []

    def __call__(self, *args, **kwargs):
        answer = super().__call__(*args, **kwargs)
        if self.request.form.get("fail") and not worker_attempt(self.request):
            raise RuntimeError("the starting request fails after the start")
        return answer

    def __run__(self, process_id=None):
        self.ran.append(process_id)
        return "ran"


def worker_attempt(request):
    from netsight.asynchronous.worker import ATTEMPT_KEY

    return ATTEMPT_KEY in request.environ


class Steady(BaseAsyncView):
    """Reports ``steps`` progress values with messages, ``delay`` seconds apart.

    Form: ``steps`` (default 4), ``delay`` (seconds, default 0.3), ``message``
    (a template: ``{step}`` and ``{steps}`` are filled in), ``fail`` (raise at
    the end), ``numeric`` (0: report no numbers, only wait).
    """

    def __run__(self, process_id, steps="4", delay="0.3", message="Step {step} of {steps}", fail="", numeric="1"):
        steps, delay = int(steps), float(delay)
        for step in range(1, steps + 1):
            time.sleep(delay)  # the job's own work, not a test's wait
            if numeric != "0":
                self.set_progress(
                    process_id, 100 * step / (steps + 1), message=message.format(step=step, steps=steps)
                )
        time.sleep(delay)
        if fail:
            raise RuntimeError(fail)
        self.request.response.setHeader("Content-Type", "text/html; charset=utf-8")
        return f"<html><body><h1 id='result'>Done after {steps} steps</h1></body></html>"


class SteadyRerun(Steady):
    """The same job, run again from the start if its instance stops or dies."""

    rerun_interrupted = True


class SteadyFixedPolls(Steady):
    """The same job, polled as the 2011 page did: every 5 seconds, from the start."""

    poll_start = 5
    poll_growth = 1


class LegacyExport(BaseAsyncView):
    """A 1.x client as a real application (2018) wrote it: its own ``__call__``
    starts the job with ``_run()`` and answers the id as JSON to a script,
    its ``publishTraverse`` hands out bound methods, ``download`` gives the
    result. The script polls ``completed?...&output_json=true`` until
    ``progress`` is 100."""

    runs = []

    def __call__(self):
        if self.request.get("REQUEST_METHOD") == "POST":
            process_id = self._run()
            self.request.response.setHeader("Content-Type", "application/json")
            return json.dumps({"process_id": process_id})
        return "The export form"

    def publishTraverse(self, request, name):
        if name in ("completed", "processing", "result", "download"):
            return getattr(self, name)
        return self

    def __run__(self, process_id=None, *args, **kwargs):
        self.runs.append(process_id)
        for percent in (25, 50, 75):
            self.set_progress(process_id, percent)
        self.request.response.setHeader("Content-Type", "application/zip")
        return b"PK\x03\x04 the zip of " + process_id.encode("ascii")

    def download(self, process_id):
        return self.result(process_id)


class OwnProcessingMethod(Progress):
    """The 1.x override of the processing page: a method taking ``process_id``."""

    def processing_page(self, process_id=None):
        return f"Our own page for {process_id}"


class OwnProcessingTemplate(Progress):
    """The 1.x override of the processing page: a template of our own."""

    processing_page = ViewPageTemplateFile("templates/processing_1x.pt")


class InitialPageNone(Hello):
    """``initial_page = None``, the 1.1.1 default: the ZCML template."""

    initial_page = None


class RaisesRedirect(BaseAsyncView):
    """Ends with ``raise Redirect(url)``, as Zope code often does."""

    def __run__(self, process_id=None):
        self.context.written_before_redirect = "yes"
        raise zExceptions.Redirect(self.context.absolute_url() + "/done")


class CommitsThenConflicts(BaseAsyncView):
    """Commits a batch of its own, streams a line, then meets a ConflictError (first attempt)."""

    attempts = {}

    def __run__(self, process_id=None):
        count = self.attempts[process_id] = self.attempts.get(process_id, 0) + 1
        self.context.batches_committed = getattr(self.context, "batches_committed", 0) + 1
        transaction.commit()
        self.request.response.write(f"batch of attempt {count}\n".encode())
        if count == 1:
            raise ConflictError("a conflict after a commit")
        return "all batches"


class CommitsThenConflictsRetried(CommitsThenConflicts):
    """The same job, declared safe to run again."""

    retry_after_commit = True


class StreamsThenConflicts(BaseAsyncView):
    """Streams a line, then conflicts on its first attempt, without committing."""

    attempts = {}

    def __run__(self, process_id=None):
        count = self.attempts[process_id] = self.attempts.get(process_id, 0) + 1
        self.request.response.write(f"streamed by attempt {count}\n".encode())
        if count == 1:
            raise ConflictError("first attempt conflicts")
        return "end\n"


class Exits(BaseAsyncView):
    """Reports 10 %, then ends its thread with a BaseException (``sys.exit()`` by default)."""

    def __run__(self, process_id, kind="exit"):
        self.set_progress(process_id, 10)
        if kind == "interrupt":
            raise KeyboardInterrupt
        raise SystemExit(3)


class ReturnsFile(BaseAsyncView):
    """Returns a file object, or with ``iterator`` a file iterator."""

    files = {}

    def __run__(self, process_id, iterator=""):
        path = tempfile.mkstemp(prefix="netsight-async-test-")[1]
        with open(path, "wb") as file:
            file.write(b"file contents\n")
        self.request.response.setHeader("Content-Type", "text/plain")
        body = filestream_iterator(path, "rb") if iterator else open(path, "rb")  # noqa: SIM115
        os.unlink(path)  # the open file stays readable
        self.files[process_id] = body
        return body


class OneXFibonacci(BaseAsyncView):
    """Written as the 1.x README and its authors' example show it: a plain
    form without a token, ``allowed_attributes``, a commit per step, the
    two-argument ``set_progress``, and a ``__run__`` that renders the ZCML
    template with ``no_process=True``."""

    def __run__(self, process_id=None, *args, **kwargs):
        n = int(self.request.form.get("n", "10"))
        a, b = 0, 1
        for step in range(1, n + 1):
            a, b = b, a + b
            self.context.one_x_steps = step
            transaction.commit()
            self.set_progress(process_id, step * 100.0 / n)
        return self.__call__(n=n, number=a, no_process=True)


GATES = {}


def new_gate(test):
    """A new key of GATES: a ``gate`` job runs until ``test``, or its cleanup, opens it."""
    key = uuid.uuid4().hex
    GATES[key] = threading.Event()
    test.addCleanup(GATES.pop, key)
    test.addCleanup(GATES[key].set)  # run first: the job ends
    return key


class Gate(BaseAsyncView):
    """Runs until the test opens its gate (form ``gate``, a key of GATES).

    It notes when it ran (``ran``). With ``report``, it writes to its
    context (work that a cancel must abort) and reports progress while it
    waits, so that a cancel stops it at its next report; with ``check``, it
    asks ``is_cancelled`` instead.
    """

    ran = []

    def __run__(self, process_id, gate, report="", check=""):
        self.ran.append(process_id)
        if report:
            self.context.gate_work = process_id
        opened = GATES[gate]
        while not opened.wait(0.02):  # the job's own pace, not a test's wait
            if report:
                self.set_progress(process_id, 1)
            if check and self.is_cancelled(process_id):
                return "stopped by is_cancelled"
        return f"passed {process_id}"


class ManyReports(BaseAsyncView):
    """Reports ``count`` values, each with a message, after ``work``
    microseconds of work each (none: as fast as it can); with ``gate``, it
    then waits at its last one until the test opens the gate; with
    ``quiet``, it does the same without reporting."""

    def __run__(self, process_id, count="10000", gate="", quiet="", work="0"):
        count, work = int(count), float(work) / 1e6
        for number in range(1, count + 1):
            if work:  # ``work`` microseconds of the job's own work before each report
                until = time.perf_counter() + work
                while time.perf_counter() < until:
                    pass
            value, message = 90 * number / count, f"report {number}"
            if not quiet:  # with ``quiet``, the same loop without the reports
                self.set_progress(process_id, value, message=message)
        if gate:
            GATES[gate].wait(60)
        return f"{count} reports"


class NoOp(BaseAsyncView):
    """Does nothing, in the background: what a start costs."""

    def __run__(self, process_id):
        return "done"


class NoOpNow(BrowserView):
    """The same nothing, done at once: the plain view a start is compared to."""

    def __call__(self):
        return "done"


class NoOpNowCommitted(BrowserView):
    """The same nothing, done at once, that commits one small object: a plain
    view that counts its calls, as a start keeps its record.

    The count is a ``BTrees.Length``, whose concurrent changes merge: as a
    peer's committing view (a Redis SET, a row's UPDATE) never fails
    because another request wrote the same key at once, no request here
    meets a ConflictError that Zope's retries might not end (a value kept
    in a mapping did: wrk's four connections made one 500 in a few
    runs).
    """

    def __call__(self):
        root = self.request["PARENTS"][-1]._p_jar.root()
        calls = root.get("netsight.async.bench.calls")
        if calls is None:
            calls = root["netsight.async.bench.calls"] = Length()
        calls.change(1)
        return "done"


BLOCK = bytes(range(256)) * 4096  # 1 MiB, the same each time


def big_body(size):
    """``size`` bytes of BLOCK repeated: what ``big-result`` answers."""
    whole, rest = divmod(size, len(BLOCK))
    yield from (BLOCK for _ in range(whole))
    if rest:
        yield BLOCK[:rest]


def big_digest(size):
    """The SHA-256 (hex) of ``big_body(size)``."""
    sha = hashlib.sha256()
    for block in big_body(size):
        sha.update(block)
    return sha.hexdigest()


class BigResult(BaseAsyncView):
    """Answers ``size`` bytes (``big_body``), streamed with ``response.write``
    (``how=write``), returned as bytes (``bytes``), as a file (``file``) or
    as a file iterator (``iterator``)."""

    def __run__(self, process_id, size="1048576", how="write"):
        size = int(size)
        response = self.request.response
        response.setHeader("Content-Type", "application/octet-stream")
        if how == "write":
            for block in big_body(size):
                response.write(block)
            return None
        if how == "bytes":
            return b"".join(big_body(size))
        path = tempfile.mkstemp(prefix="netsight-async-big-")[1]
        with open(path, "wb") as file:
            for block in big_body(size):
                file.write(block)
        body = filestream_iterator(path, "rb") if how == "iterator" else open(path, "rb")  # noqa: SIM115
        os.unlink(path)  # the open file stays readable
        return body


# --- Polls at the predicted end (issue 13, point 3): a page of bench/latency.py. ---


class SteadyGrowingPolls(Steady):
    """The same job, its page polling at growing intervals only, as before
    the polls at the predicted end."""

    poll_at_predicted_end = False


# --- A cancel reaches a job on another instance at once: bench/cancel_latency.py, test_cluster. ---


class WatchesCancel(BaseAsyncView):
    """Checks ``is_cancelled`` every ``pace`` seconds, reporting no progress,
    for up to ``seconds``; it says whether it saw a cancel (it ends done)."""

    def __run__(self, process_id, seconds="60", pace="0.01"):
        until, pace = time.monotonic() + float(seconds), float(pace)
        while time.monotonic() < until:
            if self.is_cancelled(process_id):
                return "stopped by is_cancelled"
            time.sleep(pace)  # the job's own work, not a test's wait
        return "ran to its end"


class FormPage(BaseAsyncView):
    """An HTML page with a form, for its user: plone.protect's transform adds
    the user's token to the form, and the page renders one itself; ``padding``
    bytes of text make it as big as asked (a blob beyond 256 KiB)."""

    def __run__(self, process_id=None, padding="0"):
        from zope.component import getMultiAdapter

        token = getMultiAdapter((self.context, self.request), name="authenticator").token()
        self.request.response.setHeader("Content-Type", "text/html; charset=utf-8")
        action = f"{self.context.absolute_url()}/@@echo"
        return (
            "<!DOCTYPE html><html><head><title>A form</title></head><body>"
            f'<form id="again" method="post" action="{action}">'
            '<input type="hidden" name="title" value="posted again"/></form>'
            f'<p id="rendered">{token}</p><p>{"x" * int(padding)}</p></body></html>'
        )


class CompressedFormPage(FormPage):
    """FormPage with Zope's HTTP compression asked for (``force``: whatever the request accepts)."""

    def __run__(self, process_id=None, padding="0", force=""):
        self.request.response.enableHTTPCompression(REQUEST=self.request, force=bool(force))
        return super().__run__(process_id, padding)


class AddsCacheHeaders(BaseAsyncView):
    """Sets and adds (``addHeader``) the headers that shared caches, CDNs and proxies read."""

    def __run__(self, process_id=None):
        response = self.request.response
        response.setHeader("Surrogate-Control", "max-age=3600")
        response.setHeader("X-Accel-Expires", "3600")
        response.addHeader("Cache-Control", "public, max-age=3600")
        response.addHeader("Vary", "Accept-Language")
        response.addHeader("CDN-Cache-Control", "max-age=3600")
        response.addHeader("X-Accel-Expires", "7200")
        response.addHeader("Link", "</a>; rel=a")
        return "headers"


class PublicAddsCacheHeaders(AddsCacheHeaders):
    """AddsCacheHeaders whose results are the same for everyone."""

    public_result = True


class ChangesPassword(BaseAsyncView):
    """Updates its user's credentials as a password change does (a fresh session
    ticket cookie), adds a ``Set-Cookie`` of ``__ac`` and sets another cookie."""

    def __run__(self, process_id=None):
        response = self.request.response
        user = getSecurityManager().getUser()
        self.context.acl_users.updateCredentials(self.request, response, user.getUserName(), "a new password")
        response.addHeader("Set-Cookie", "__ac=added; Path=/")
        response.setCookie("report", "42", path="/")
        return "changed"


HELD = {}  # a HeldStart's ``hold`` -> an Event set when its start is held


class HeldStart(Gate):
    """A Gate whose start is held in the middle of its transaction: after
    ``_run()`` (the start's checks and writes done), before the commit, until
    the test opens the gate ``hold`` (form: a key of GATES and HELD; HELD's
    event is set once the start is there, at each attempt: Zope may run the
    request again; ``attempts`` notes each). It answers the process id."""

    attempts = []

    def __call__(self):
        if self.request.get("REQUEST_METHOD") != "POST":
            return "The held start's form"
        process_id = self._run()
        hold = self.request.form["hold"]
        self.attempts.append(hold)
        HELD[hold].set()
        GATES[hold].wait(60)  # the test opens it; a test that failed meanwhile lets it go at its cleanup
        return process_id


# --- A result can be seen again (issue 24, point 5). ---


class KeepsResult(Hello):
    """Its owner may see its result again for ten minutes after it was first shown."""

    keep_result = 600


class KeepsBigResult(BigResult):
    """A big result (a blob) kept for ten minutes after it was first shown."""

    keep_result = 600


# --- The owner is told when a job ends (issue 24, point 6). ---


class MailsWhenDone(BaseAsyncView):
    """Mails its owner when it is done unwatched (``notify = "mail"``). Its
    result holds ``secret``; with ``gate``, it waits until the test opens it."""

    notify = "mail"

    def __run__(self, process_id, secret="", gate=""):
        if gate:
            GATES[gate].wait(60)  # the test opens it; a test that failed meanwhile lets it go at its cleanup
        return f"<p>The result: {secret}</p>"


# Start later and priorities (issue 27, points 1 and 2): the runs, in their order.
LATER_RUNS = []  # (process id, time.time() when it ran)


class Later(BaseAsyncView):
    """Starts ``seconds`` (form) from now (``aware``: an aware UTC datetime, else a naive local one),
    with the form's ``priority`` (0 without one), in the form's ``queue`` (the default one without);
    notes when each job ran (``LATER_RUNS``)."""

    def run_after(self):
        seconds = self.request.form.get("seconds")
        if not seconds:
            return None
        if self.request.form.get("aware"):
            return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(seconds))
        return datetime.datetime.now() + datetime.timedelta(seconds=float(seconds))

    def priority(self):
        return int(self.request.form.get("priority") or 0)

    def queue(self):
        return self.request.form.get("queue") or None

    def __run__(self, process_id):
        LATER_RUNS.append((process_id, time.time()))
        return f"Ran {process_id}"


class OutOfRangePriority(Hello):
    """An integrator's error: a priority past Django's range."""

    priority = 500
