"""A process's status as JSON: what ``completed?…&output_json=1`` and ``@async-processes/<id>`` answer alike."""

from zope.i18n import translate

from netsight.asynchronous import sitetime
from netsight.asynchronous import statustexts
from netsight.asynchronous.processes.state import ProcessState
from netsight.asynchronous.processes.status import is_percentage


def status_answer(status, request, title, manager=False):
    """The JSON-ready dict of a ``ProcessStatus`` (docs/json.rst says each key).

    :param request: whose language the texts are translated to.
    :param title: what the pages call the job, translated (``StatusPages.job_title``).
    :param manager: whether the requester manages the process's site: they
        also read ``error_detail``, why it failed or was interrupted.
    """
    state = status.state
    completed = status.completed
    answer = {
        "process_id": status.process_id,
        "state": state.value,
        "title": title,
        "completed": completed,
        "progress": completed,
        "progress_message": progress_message(status, request),
        "message": translate(status.message or "", context=request),
        "elapsed": round(status.elapsed, 1),
        "remaining": status.remaining,
        "scheduled_for": _iso(status.scheduled_for, "milliseconds"),  # the page polls at that time, not up to 1 s early
        "priority": status.priority,
        "attempt": status.attempt,
        "max_attempts": status.max_attempts,  # its view's automatic attempts: a Retry button's may go beyond
        "retry_of": status.retry_of,
        "retried_by": status.retried_by,
        "retryable": status.retryable,
        "queue": status.queue,
        "queue_served": status.queue_served,
    }
    if status.retry_of is not None or _retried_automatically(status):  # "Attempt 2 of 4", "Attempt 1 of 4 failed"...
        answer["attempt_message"] = translate(attempt_line(status), context=request)
    if status.next_attempt_at is not None:  # its next attempt waits for its time
        answer["next_attempt_at"] = _iso(status.next_attempt_at)
    if state == ProcessState.QUEUED:
        answer["queue_position"] = status.queue_position
        if status.restarting:  # queued again, or about to be
            answer["restarted"] = True
            answer["message"] = translate(statustexts.RESTARTED, context=request)
    elif status.cancelling:
        answer["cancelling"] = True
    if status.reruns:  # it was queued again: it says so while it runs again, and once it ended
        answer["restarted"] = True
    if state == ProcessState.TIMED_OUT:
        answer["timed_out"] = True
    if status.ended_without_result:
        answer["error"] = translate(statustexts.ENDED_WITHOUT_RESULT[state], context=request)
        if manager and status.error:
            answer["error_detail"] = status.error
    return answer


def progress_message(status, request):
    """The status line: waiting (and how many ahead), "40% completed...", "Processing...", cancelling, or the end."""
    state = status.state
    if state == ProcessState.SCHEDULED:  # a retry's wait is seconds long: to the second (its attempt line says which)
        message = statustexts.scheduled_for(status.scheduled_for, status.as_of, seconds=status.retry_of is not None)
    elif state == ProcessState.QUEUED and not status.queue_served:  # no live instance serves its queue
        message = statustexts.waiting_for_worker(status.queue)
    elif state == ProcessState.QUEUED:
        message = statustexts.waiting_ahead(status.queue_position)
    elif status.cancelling:
        message = statustexts.CANCELLING
    elif state in statustexts.ENDED_STATUS:  # not "Processing...": it ended
        message = statustexts.ENDED_STATUS[state]
    elif is_percentage(status.completed):
        message = statustexts.percentage_completed(status.completed)
    else:
        message = statustexts.PROCESSING
    return translate(message, context=request)


def attempt_line(status):
    """A retry's "Attempt 2 of 4" ("Attempt 4" beyond its automatic attempts: a Retry button's); when it waits,
    its status line says until when. A failed attempt of automatic retries: "Attempt 1 of 4 failed", with
    "; attempt 2 is scheduled for 14:03:10" while that one waits."""
    if _retried_automatically(status):
        return statustexts.attempt_failed(status.attempt, status.max_attempts, status.next_attempt_at, status.as_of)
    return statustexts.attempt_of(status.attempt, status.max_attempts)


def _retried_automatically(status):
    """Whether ``status`` is a failed attempt of a view's automatic retries (``max_retries``) that was retried or
    retries one; not a Retry button's attempt beyond them."""
    retried = status.retried_by is not None or status.retry_of is not None
    automatic = 1 < status.max_attempts and status.attempt <= status.max_attempts
    return status.state == ProcessState.FAILED and automatic and retried


def _iso(when, timespec="seconds"):
    """A time.time() as ISO 8601 with the UTC offset of the site's time zone ("2026-12-05T14:00:00+01:00"), or None."""
    return sitetime.iso(when, timespec)


def unknown_answer(request):
    """The JSON of an unknown process (404): the same for an id that never existed and for another's."""
    return {
        "state": "unknown",
        "completed": "ERROR",
        "progress": "ERROR",
        "error": translate(statustexts.NO_SUCH_PROCESS, context=request),
    }


def shown_answer(process_id, request):
    """The JSON of a result already shown, to its owner (410)."""
    return {
        "process_id": process_id,
        "state": "shown",
        "completed": "ERROR",
        "progress": "ERROR",
        "error": translate(statustexts.RESULT_SHOWN, context=request),
    }
