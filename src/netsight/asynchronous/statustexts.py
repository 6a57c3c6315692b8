"""What the pages and lists call a process's states and ends: the i18n messages, in one place."""

from netsight.asynchronous import sitetime
from netsight.asynchronous.i18n import _
from netsight.asynchronous.processes.state import ProcessState

import time


ENDED_WITHOUT_RESULT = {
    ProcessState.FAILED: _("process_failed", default="The process failed."),
    ProcessState.CANCELLED: _("process_cancelled", default="The process was cancelled."),
    ProcessState.INTERRUPTED: _(
        "process_interrupted", default="The server was stopped before the process completed."
    ),
    ProcessState.TIMED_OUT: _(
        "process_timed_out", default="The process took longer than it may and was stopped."
    ),
}
# What each state is called: the lists' state column (My processes, All
# processes) and the status line of a process that ended without a result.
STATE_TEXTS = {
    ProcessState.SCHEDULED: _("state_scheduled", default="Scheduled"),
    ProcessState.QUEUED: _("state_queued", default="Waiting to start"),
    ProcessState.RUNNING: _("state_running", default="Running"),
    ProcessState.DONE: _("state_done", default="Done: the result is ready"),
    ProcessState.FAILED: _("state_failed", default="Failed"),
    ProcessState.CANCELLED: _("state_cancelled", default="Cancelled"),
    ProcessState.INTERRUPTED: _("state_interrupted", default="Interrupted: the server was stopped"),
    ProcessState.TIMED_OUT: _("state_timed_out", default="Timed out"),
}
ENDED_STATUS = {state: STATE_TEXTS[state] for state in ENDED_WITHOUT_RESULT}
RESTARTED = _("process_restarted", default="The server was stopped before the process completed: it starts again.")
NO_SUCH_PROCESS = _("no_such_process", default="There is no such process, or its result was already shown.")
RESULT_SHOWN = _("result_shown", default="This result was already shown.")
PROCESSING = _("processing_title", default="Processing...")
CANCELLING = _("cancelling", default="Cancelling...")
WAITING = _("waiting", default="Waiting to start")
# A second start of an only-once job (a view's dedupe_key, site-wide) while another owner's runs.
STARTED_BY_SOMEONE_ELSE = _(
    "already_running_someone_else", default="This is already running, started by someone else: try again once it ended."
)


def waiting_ahead(ahead):
    """"Waiting to start (3 ahead)", or "Waiting to start" with none ahead."""
    if not ahead:
        return WAITING
    return _("waiting_ahead", default="Waiting to start (${ahead} ahead)", mapping={"ahead": ahead})


def waiting_for_worker(queue):
    """"Waiting for a worker of 'exports'": no live instance serves the job's queue (None: the default one)."""
    if queue is None:
        return WAITING_FOR_DEFAULT_WORKER
    return _("waiting_for_worker_of", default="Waiting for a worker of '${queue}'", mapping={"queue": queue})


WAITING_FOR_DEFAULT_WORKER = _("waiting_for_worker_of_default", default="Waiting for a worker of the default queue")


def percentage_completed(percentage):
    """"40% completed..."."""
    return _("percentage_completion", default="${percentage}% completed...", mapping={"percentage": percentage})


def scheduled_for(when, now=None, seconds=False):
    """"Scheduled for 14:00" (the site's time zone, else the server's: ``sitetime``), or "Scheduled for
    2026-12-06 14:00" when not today; "Scheduled for 14:03:10" with ``seconds`` (a retry's wait, seconds long)."""
    tz = sitetime.zone()
    at = sitetime.at(when, tz)
    today = sitetime.at(time.time() if now is None else now, tz)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    text = at.strftime(clock) if at.date() == today.date() else at.strftime(f"%Y-%m-%d {clock}")
    return _("scheduled_for", default="Scheduled for ${time}", mapping={"time": text})


def attempt_of(attempt, max_attempts):
    """A retry's line: "Attempt 2 of 4" within its view's automatic attempts (``max_attempts``); "Attempt 2" without
    a limit: a view without automatic retries, or a Retry button's attempt beyond them ("Attempt 4" after 3 of 3)."""
    if 1 < max_attempts and attempt <= max_attempts:
        return _(
            "attempt_of",
            default="Attempt ${attempt} of ${max_attempts}",
            mapping={"attempt": attempt, "max_attempts": max_attempts},
        )
    return _("attempt_n", default="Attempt ${attempt}", mapping={"attempt": attempt})


def attempt_failed(attempt, max_attempts, next_at=None, now=None):
    """An automatically retried attempt's end: "Attempt 1 of 4 failed", and "; attempt 2 is scheduled for 14:03"
    while the next one waits for its time."""
    mapping = {"attempt": attempt, "max_attempts": max_attempts}
    if next_at is None:
        return _("attempt_failed", default="Attempt ${attempt} of ${max_attempts} failed", mapping=mapping)
    tz = sitetime.zone()
    at = sitetime.at(next_at, tz)
    today = sitetime.at(time.time() if now is None else now, tz)
    mapping["next"] = attempt + 1
    mapping["time"] = at.strftime("%H:%M:%S") if at.date() == today.date() else at.strftime("%Y-%m-%d %H:%M:%S")
    return _(
        "attempt_failed_next_at",
        default="Attempt ${attempt} of ${max_attempts} failed; attempt ${next} is scheduled for ${time}",
        mapping=mapping,
    )
