"""``ProcessStatus``: a frozen snapshot of one process, as it reads at one moment."""

from dataclasses import dataclass
from numbers import Real

from netsight.asynchronous.processes.state import ProcessState


@dataclass(frozen=True)
class ProcessStatus:
    """What is known of a process at ``as_of``: the pages, the lists and
    the REST API render it, and hold no rule of their own.

    Made by ``Processes.status`` (once per record and request); a new read
    (``Processes.read_anew``) gives a new one. The times are seconds since
    the epoch; ``title`` and ``message`` are text or i18n messages, to be
    translated by whoever renders them.
    """

    process_id: str
    #: What the process reads as now (its instance's heartbeat considered).
    state: ProcessState
    #: The state its record keeps (a dead instance's job is stored as running until housekeeping marks it).
    stored_state: str
    view_name: str
    #: The path of the object the process was started on.
    context_path: str
    #: The path of the Plone site it was started in ("" outside any).
    site: str
    #: The user id of its owner; None for an anonymous browser's.
    owner: str | None
    #: Whose it is, as one string: the user id, or ``anonymous:`` and the browser's hashed secret.
    owner_key: str
    #: What its pages call the job (text or i18n message); None: its view's default.
    title: object
    #: The job's last report: a percentage, True once a job without one is done, or None.
    progress: object
    message: object
    #: Why it failed, was interrupted or started again (for the site's managers).
    error: str | None
    created: float
    started: float | None
    finished: float | None
    #: How many jobs wait ahead of it (None unless queued).
    queue_position: int | None
    #: How many times it was queued again after its instance stopped.
    reruns: int
    cancel_requested: bool
    #: The instance that runs it or queued it ("" while any may claim it).
    instance: str | None
    #: Its result was shown and is gone (a one-shot one taken, a kept one past its time).
    result_gone: bool
    #: Until when a kept result may be seen again (None: shown once).
    keep_until: float | None
    #: The URL of the object it was started on.
    context_url: str
    as_of: float
    #: When it may start (its view's ``run_after``), while it is scheduled; else None.
    scheduled_for: float | None = None
    #: When it was due to start, if it was scheduled (its record's ``run_after``), in every state; else None.
    due: float | None = None
    #: Its view's ``priority`` (-100 to 100; 0 by default): a higher one starts first.
    priority: int = 0
    #: Which attempt it is (1, then 2 for its first retry) and how many its view allows in all (retries.py).
    attempt: int = 1
    max_attempts: int = 1
    #: The process it retries, and the one that retried it (None: none).
    retry_of: str | None = None
    retried_by: str | None = None
    #: When the attempt that retries it is due, while that one is scheduled (automatic retries); else None.
    next_attempt_at: float | None = None
    #: Its view's queue (queues.py): a name, or None for the default queue.
    queue: str | None = None
    #: False while it waits in the database and no live instance serves its queue (``registry.serving``); else True.
    queue_served: bool = True
    #: Whether a Retry may run it again now: it failed, was interrupted or timed out, kept its request, not retried yet.
    retryable: bool = False

    @property
    def is_finished(self):
        """Whether it ended: done, failed, cancelled or interrupted."""
        return self.state.is_finished

    @property
    def ended_without_result(self):
        """Whether it failed, was cancelled or interrupted."""
        return self.state.ended_without_result

    @property
    def result_ready(self):
        """Whether its result is there to be shown."""
        return self.state == ProcessState.DONE and not self.result_gone

    @property
    def restarting(self):
        """Whether it waits to run again: queued again, or about to be (its instance stopped)."""
        return self.state == ProcessState.QUEUED and bool(self.reruns or self.stored_state != ProcessState.QUEUED)

    @property
    def cancelling(self):
        """Whether it runs and was asked to stop."""
        return self.state == ProcessState.RUNNING and self.cancel_requested

    @property
    def completed(self):
        """The answer of 1.x's ``completed``: False, a percentage, True or 100
        once done (True if it never reported one), "ERROR" if it ended without a result."""
        if self.ended_without_result:
            return "ERROR"
        if self.restarting and self.stored_state != ProcessState.QUEUED:
            return False  # it starts again from the start
        if self.stored_state == ProcessState.DONE:
            return self.progress
        return False if self.progress is None else self.progress

    @property
    def elapsed(self):
        """Seconds since it started (since it was queued, if it never started: since its time, if it was
        scheduled), until it ended; 0 while it is scheduled: nothing runs, and it waits for no one yet."""
        if self.state == ProcessState.SCHEDULED:
            return 0.0
        since = self.started or max(self.created, self.due or 0)
        return max(0.0, (self.finished or self.as_of) - since)

    @property
    def remaining(self):
        """Seconds left, if it runs and its progress says: the time so far, extrapolated; else None."""
        completed = self.completed
        if not (self.started and self.state == ProcessState.RUNNING and is_percentage(completed)):
            return None
        if not 0 < completed < 100:
            return None
        return round(self.elapsed * (100 - completed) / completed, 1)

    @property
    def unclaimed(self):
        """Whether it waits in the database for any instance to claim it."""
        return self.instance == ""

    @property
    def view_url(self):
        """The URL of the view that started it (its form), as ``…/@@name``: an item of the same name cannot hide it."""
        return f"{self.context_url}/@@{self.view_name}"

    def url(self, page):
        """The URL of one of its status pages (``processing``, ``completed``, ``result``, ``cancel``)."""
        return f"{self.view_url}/{page}?process_id={self.process_id}"


def is_percentage(value):
    """Whether ``value`` is a percentage: a number, not a bool (True means done, not 1 %)."""
    return isinstance(value, Real) and not isinstance(value, bool)
