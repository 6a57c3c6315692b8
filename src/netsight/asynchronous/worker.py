"""The worker: runs a job in a thread of its own, after the start committed.

The job is the starting request itself, without its credentials
(``scrub.py``), published again through Zope's own publisher on a
connection of its own, from the Zope application root of the main database
(the one that holds the registry; a site in a mounted database is reached
through its mount point, as by any request). Traversal, the site, browser
layers, language, form and ``zope.globalrequest`` are then what the
starting request had; the job logs in as its user (``identity.JobUser``),
given to Zope by the ``JobCall`` that the view publishes at the end of its
path (``BaseAsyncView.browserDefault``). ConflictErrors are retried as Zope
retries a request (unless the job committed work of its own).
"""

from AccessControl.SecurityManagement import noSecurityManager
from Acquisition import aq_base
from contextlib import contextmanager
from io import BytesIO
from tempfile import SpooledTemporaryFile
from transaction.interfaces import TransientError
from ZODB.POSException import ConnectionStateError
from zope.globalrequest import clearRequest
from zope.globalrequest import setRequest
from ZPublisher.HTTPRequest import WSGIRequest

from netsight.asynchronous import behind
from netsight.asynchronous import capture
from netsight.asynchronous import identity
from netsight.asynchronous import internals
from netsight.asynchronous import notify
from netsight.asynchronous import registry
from netsight.asynchronous import retries
from netsight.asynchronous import scrub
from netsight.asynchronous import settings
from netsight.asynchronous.capture import BodyCapture
from netsight.asynchronous.cancels import cancel_asked
from netsight.asynchronous.cancels import forget
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.limits import JobLimits
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.progress import REPORTS
from netsight.asynchronous.replay import CapturedResponse
from netsight.asynchronous.stored import SPOOL_SIZE
from netsight.asynchronous.stored import StoredRequest

import logging
import time
import traceback
import transaction


logger = logging.getLogger("netsight.async")

ATTEMPT_KEY = "netsight.async.attempt"
# Seconds that a job started ahead (with a job's end, ``_write_end``) may wait for a thread
# before it runs with its start time of then; beyond, its start time (its time limit's clock,
# its page's elapsed time) is written again as it runs.
STARTED_LATE = 1.0
# A job that ran less than this many seconds is taken for one of a burst: its end starts two jobs
# if two wait (``_write_end``), so that the next end is written behind; after a longer one, one.
SHORT_JOB = 1.0
# Jobs that wait started ahead, about, at most, for each pool thread: in a burst of jobs shorter
# than STARTED_LATE / (DEPTH + 1), so that none waits long enough to begin late, an end written
# behind takes two while fewer wait. The more wait, the more ends each of the writer's commits
# carries. Ends at the same moment in several threads may each take two (a few more then wait).
# Four: a front-end's worker drained 1.11 times as fast as with two, RelStorage 1.19; eight, slower.
DEPTH = 4


class Attempt:
    """What one publication of the job did; the view reports here."""

    retry_after_commit = False  # the view's, told by the view

    def __init__(self, process_id, view_name, user=None):
        self.process_id = process_id
        self.view_name = view_name
        self.user = user  # the JobUser it runs as; None: Anonymous
        self.reset()

    def reset(self):
        self.taken = False  # by the view that the publication reached (``attempt_for``)
        self.returned = False
        self.committed = None
        self.committed_work = False
        self.was_cancelled = False
        self.error = None
        self._watching = False

    @contextmanager
    def watching_commits(self, manager):
        """Notice, while ``__run__`` runs, whether it commits work of its own."""
        self._watching = True
        manager.registerSynch(self)
        try:
            yield
        finally:
            self._watching = False
            manager.unregisterSynch(self)

    # ISynchronizer, for watching_commits: each commit begun while
    # ``__run__`` runs tells, once done, whether it committed.
    def beforeCompletion(self, txn):
        if self._watching:
            txn.addAfterCommitHook(self._work_committed)

    def _work_committed(self, status):
        if status:
            self.committed_work = True

    def afterCompletion(self, txn):
        pass

    def newTransaction(self, txn):
        pass

    def succeeded(self, txn):
        """``__run__`` returned; what counts now is whether ``txn`` commits."""
        self.returned = True
        txn.addAfterCommitHook(self._committed)

    def _committed(self, status):
        self.committed = status

    def redirected(self):
        """``__run__`` raised a redirect: that is its answer, its transaction is aborted."""
        self.returned = True

    def conflicted(self, exc):
        """``__run__`` raised a ConflictError: the failure, unless a retry succeeds."""
        self.error = f"{type(exc).__name__}: {exc} (retries exhausted)"

    def failed(self, exc):
        """``__run__`` raised ``exc``: log it whole, keep a line of it. An error,
        or a warning where its view retries it (``auto_retry``, set before:
        ``retries.after_failure`` logs the error of a last attempt)."""
        retried = getattr(self, "auto_retry", None) is not None
        logger.log(
            logging.WARNING if retried else logging.ERROR,
            "Process %s failed%s:\n%s",
            self.process_id,
            " (its view retries such a failure where attempts are left: the next entry says whether one is)"
            if retried else "",
            traceback.format_exc(),
        )
        self.error = f"{type(exc).__name__}: {exc}"

    def cancelled(self):
        """``__run__`` stopped because it was asked to (ProcessCancelled)."""
        self.was_cancelled = True

    def may_retry(self):
        """Whether a ConflictError may publish the job again from the start."""
        return not self.committed_work or self.retry_after_commit


def attempt_for(request, view_name):
    """The attempt that ``request`` publishes for the view ``view_name``, once
    (the view runs the job); None for any other request, and after that."""
    attempt = request.environ.get(ATTEMPT_KEY)
    if attempt is None or attempt.taken or attempt.view_name != view_name:
        return None
    attempt.taken = True
    return attempt


class Job:
    """The starting request, copied so that it can be published again.

    Made from the live request (``from_request``) where the job starts, or
    from its ``StoredRequest`` (``from_record``) where an instance takes a
    job queued in the database.
    """

    def __init__(self, process_id, view_name, db, limits, user, origin, environ, body):
        self.process_id = process_id
        self.db = db
        self.limits = limits  # a JobLimits: whose it is and its caps, for the pool
        self.attempt = Attempt(process_id, view_name, user)
        self.origin = origin  # (root oid, realm, debug mode)
        self.environ = environ
        self.body = body
        self.capture = None  # the body of the latest publication's response
        self.run_number = None  # the record's run, once it started here
        self.started_by = None  # (write, index): its start, written with a job's end (``_write_end``)
        self.taken_at = None  # when a job's end took it to start with it (time.monotonic())
        self.began = None  # when its publication began (time.monotonic())

    @classmethod
    def from_request(cls, request, process_id, view_name, db, limits, site_names):
        """The job of ``request``, without its credentials (scrub.py), run as its user, under ``limits``.

        ``site_names``: the site's own credential names (``scrub.site_login_names``:
        a renamed session cookie, say), read by the start once for this and its kept form values.
        """
        body = SpooledTemporaryFile(max_size=SPOOL_SIZE)
        stdin = request.stdin
        if stdin is not None:
            stdin.seek(0)
            scrub.body(stdin, request.environ.get("CONTENT_TYPE"), body, request.environ.get("REQUEST_METHOD"), site_names)
        body.seek(0)
        origin = (aq_base(request["PARENTS"][-1])._p_oid, request.response.realm, request.response.debug_mode)
        environ = scrub.environ(request.environ, site_names)
        return cls(process_id, view_name, db, limits, identity.current_user(), origin, environ, body)

    @classmethod
    def from_record(cls, record, db):
        """The job of a record whose request is stored; None if it is not (any more)."""
        stored = record.request
        if stored is None:
            return None
        return cls(
            record.process_id, record.view_name, db, JobLimits.of_record(record), stored.user, stored.origin,
            dict(stored.environ), stored.open_body(),
        )

    def stored(self, connection):
        """This job's request as a ``StoredRequest``, its body added with ``connection``."""
        kept = StoredRequest(self.environ, self.attempt.user, self.origin)
        kept.keep_body(self.body, connection)
        self.body.seek(0)
        return kept

    def request(self, retry_count=0):
        """A new request to publish: each publication (a retry too) has its own response."""
        self.body.seek(0)
        environ = dict(self.environ)
        environ[ATTEMPT_KEY] = self.attempt
        environ["wsgi.input"] = self.body
        self.discard_capture()
        self.capture = BodyCapture(capture.directory(self.db))
        response = capture.JobResponse(stdout=self.capture, stderr=BytesIO())
        request = WSGIRequest(self.body, environ, response)
        internals.set_retry_count(request, retry_count)
        return request

    def discard_capture(self):
        """Forget the body captured by the latest publication, if any."""
        if self.capture is not None:
            self.capture.discard()
            self.capture = None

    def run(self):
        """Publish the job (the pool calls this in one of its threads)."""
        run(self)

    def discard(self, error=None):
        """The job will not run (cancelled while queued, or no thread): free its body."""
        self.body.close()
        if error is not None:
            _record_failure(self, error)


def start_after_commit(txn, job):
    """Hand ``job`` to the pool once ``txn`` has committed, never if it does not."""
    txn.addAfterCommitHook(_submit_if_committed, args=(job,))
    txn.addAfterAbortHook(job.body.close)


def _submit_if_committed(committed, job):
    if not committed:
        job.body.close()
        return
    submit(job)


def submit(job):
    """Hand ``job``, whose record is committed, to the pool; a job that cannot be queued fails, logged."""
    # Called in hooks, which swallow exceptions: log them, and never lose the process silently.
    try:
        MAINTENANCE.watch(job.db, beat_now=False)
        POOL.submit(job)
    except Exception:
        logger.exception("Could not queue process %s", job.process_id)
        job.discard("the worker could not be started")


def run(job):
    """Run ``job``: mark it running, publish it, record its outcome."""
    try:
        if job.started_by is not None:  # its start was written with the end of a job before it
            late = time.monotonic() - job.taken_at > STARTED_LATE
            job.run_number = _started(job)
            if job.run_number and (late or cancel_asked(job.process_id) or MAINTENANCE.stopping.is_set()):
                # Still to run (not cancelled, given up or marked at a stop meanwhile)? Its clock starts now.
                run_number, iid = job.run_number, instance_id()
                job.run_number = registry.change(job.db, job.process_id, lambda record: record.begins_late(iid, run_number)) and run_number
        if job.run_number is None:  # not started with the end of the job before it on this thread
            job.run_number = registry.change(job.db, job.process_id, lambda record: record.start(instance_id()))
        if not job.run_number:
            return  # cancelled, interrupted or claimed elsewhere while it waited
        job.began = time.monotonic()
        error, response = _publish(job)
        held = REPORTS.end(job.process_id)  # a progress report not written yet goes with the end
        if job.attempt.was_cancelled:
            _write_end(job, lambda record: _mine(record, job) and record.cancelled())
        elif error is None:
            _finish(job, response, held)
        else:
            _record_failure(job, error, held)
    except BaseException as exc:  # whatever ends the thread ends the process
        logger.exception("Process %s: the worker failed", job.process_id)
        _record_failure(job, f"the worker failed: {type(exc).__name__}: {exc}")
    finally:
        REPORTS.end(job.process_id)
        forget(job.process_id)
        job.discard_capture()
        job.body.close()


def _finish(job, response, held):
    """Keep the job's response (its body inline, or in a blob) and mark the process done."""
    whole = job.capture
    whole.add(response.body)
    body, blob_oid = whole.keep(job.db)
    captured = CapturedResponse.capture(response, body, whole.length, scrub.login_names(job.environ))

    def finish(record):
        blob = None if blob_oid is None else record._p_jar.get(blob_oid)
        # expect: noted for the maintenance thread's mail pass, if its view asked for a mail
        return _mine(record, job) and _held(record, held) and record.finish(captured, blob) and notify.expect(record)

    _write_end(job, finish)


def _write_end(job, func):
    """Write the job's end (``func(record)``) and, in the same transaction, the
    start (*running*) of the jobs that the pool's threads run next, if some
    wait in the pool (``Pool.take_next``): one commit for them all. Such a
    job's start is committed before its ``__run__`` runs, as a start of its
    own would be; if it could not start (cancelled meanwhile), it does not run.

    While a job started so waits for a thread (``Pool.started_ahead``),
    this thread does not wait for the commit: its end is written behind
    (``behind.py``), by the writer thread, with the others that wait, and
    the thread runs the job that waits (or another thread does). Otherwise
    it waits for the commit; after a job shorter than ``SHORT_JOB``, that
    commit starts two jobs if two wait: the next, and one ahead, so that the
    next end is written behind; and an end written behind after a job
    shorter than ``STARTED_LATE / (DEPTH + 1)`` takes two while fewer than
    ``DEPTH`` a thread wait started ahead. The job whose end is written behind stays
    held by the pool until it is (``Pool.end_behind``: the heartbeat must not
    read it lost), and a write that fails is recorded as its failure."""
    fits = lambda other: isinstance(other, Job) and other.db is job.db and other.run_number is None  # noqa: E731
    # A job that may wait for a thread is never one with a time limit: housekeeping would read
    # its clock, started now, as it waits (``begins_late`` writes it again only as it begins).
    waits = lambda other: fits(other) and not other.limits.time_limited  # noqa: E731
    ahead = POOL.started_ahead(job)
    ran = float("inf") if job.began is None else time.monotonic() - job.began  # how long it ran
    if ahead:  # in a burst of very short jobs, up to DEPTH a thread started ahead: each commit carries more ends
        burst = ran < STARTED_LATE / (DEPTH + 1)
        wanted = [waits, waits] if burst and ahead < DEPTH * settings.get("job-threads") else [waits]
    else:
        wanted = [fits, waits] if ran < SHORT_JOB else [fits]
    then = []
    try:
        for fitting in wanted:
            taken = POOL.take_next(fitting, job)
            if taken is None:
                break
            then.append(taken)
    except Exception:  # taking is a favour: the end is written whatever
        logger.exception("Process %s: could not take the next job", job.process_id)
    except BaseException:
        POOL.run_next(then)  # they start alone
        raise
    if not then and not ahead:
        return registry.change(job.db, job.process_id, func)
    iid, now = instance_id(), time.monotonic()

    def write(root):
        ended = registry.change_in(root, job.process_id, func)
        return ended, [registry.change_in(root, other.process_id, lambda record: record.start(iid)) for other in then]

    # The jobs taken wait for this write (``_started``), whichever pool thread runs them.
    written = behind.Write(job.db, write)
    for index, other in enumerate(then):
        other.started_by, other.taken_at = (written, index), now
    POOL.run_next(then)
    if ahead:
        written.on_failure = lambda exc: _record_failure(job, f"its end could not be written: {type(exc).__name__}: {exc}")
        written.when_settled(POOL.end_behind(job.process_id))
        try:
            behind.WRITER.hand_over(written)
            return None
        except Exception:  # no writer thread: written here, as without a job ahead
            logger.exception("Process %s: its end could not be handed to the writer; written now", job.process_id)
    try:
        ended, started = registry.in_own_transaction(job.db, write)
    except BaseException as exc:
        written.settle(error=exc)  # the jobs taken start alone
        raise
    written.settle((ended, started))
    return ended


def _started(job):
    """The run number that the write of ``job.started_by`` gave it (False: it may not start; None:
    that write failed, it starts alone)."""
    written, index = job.started_by
    job.started_by = None
    try:
        _ended, started = written.wait()
    except BaseException:
        return None
    return started[index] or False


def _mine(record, job):
    """Whether the record is still the job's run on this instance (not given up and queued again)."""
    return record.is_run(instance_id(), job.run_number)


def _held(record, held):
    """Write the job's held progress report, if any, before its end (always true)."""
    if held is not None:
        record.report(*held)
    return True


def _record_failure(job, error, held=None):
    try:
        _write_end(
            job,
            # retry_on: its next attempt, scheduled after the backoff, in the same transaction (retries.py)
            lambda record: _mine(record, job) and _held(record, held) and record.fail(error)
            and retries.after_failure(record, job.attempt),
        )
    except Exception:
        logger.exception("Process %s: could not record its failure", job.process_id)


def _close(connection):
    """Close the job's connection; one that a subscriber of the publication's
    success wrote to after the publisher's commit (``IPubSuccess``: a new
    transaction that nothing commits) has that transaction aborted first."""
    try:
        connection.close()
    except ConnectionStateError:
        transaction.abort()
        connection.close()


def _publish(job):
    """Publish the job's request as Zope would; returns (error, response).

    A ConflictError publishes it again from the start, as Zope retries a
    request, unless the job had committed work of its own by then (it
    would be done twice) and its view does not allow that. Why this loop
    is not Zope's own (``publish_module``): ``internals.publish_job``.
    """
    attempt = job.attempt
    next_request = job.request()
    while True:
        request = next_request
        response = request.response
        attempt.reset()
        connection = job.db.open()
        setRequest(request)
        published = False
        try:
            root_oid, realm, debug_mode = job.origin
            app = connection.get(root_oid)
            internals.publish_job(request, app, realm, debug_mode)
            published = True
            break
        except TransientError as exc:
            if not attempt.may_retry():
                logger.error("Process %s: a conflict after it had committed work; not run again", job.process_id)
                return (
                    f"{type(exc).__name__} after the job had committed work of its own: "
                    "not run again, which would repeat that work (see retry_after_commit)",
                    response,
                )
            if not request.supports_retry():
                return attempt.error or f"{type(exc).__name__}: retries exhausted", response
            request.delay_retry()
            next_request = job.request(request.retry_count + 1)
        except BaseException as exc:
            if attempt.error is None:
                logger.exception("Process %s could not be published", job.process_id)
            return attempt.error or f"{type(exc).__name__}: {exc}", response
        finally:
            try:
                # A publication that returned was committed or aborted by the publisher
                # (``transaction_pubevents``). An abort then would begin a transaction
                # only to end it: a catch-up of the connection, on RelStorage a
                # rollback, a BEGIN and a query to PostgreSQL a job.
                if not published:
                    transaction.abort()
                _close(connection)
            finally:
                request.close()
                clearRequest()
                noSecurityManager()
    if attempt.error is not None:
        return attempt.error, response
    if attempt.was_cancelled:
        return None, response
    if not attempt.returned:
        return f"the view did not run (HTTP {response.status})", response
    if attempt.committed is False:
        return "the job's transaction did not commit", response
    return None, response
