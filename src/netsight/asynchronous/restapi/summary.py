"""A process as ``@async-processes`` shows it: its status, where it runs, whose it is.

Serialization only: the service (``processes.Processes``) found the process
and decided who may see it. The status is what the JSON of ``completed``
says (``statusjson.status_answer``); the rest comes from the snapshot: the
view and context, the owner, the times (ISO 8601, UTC) and the URLs of its
status and result (none for a process that ended without one: failed,
cancelled, interrupted).
"""

from datetime import datetime
from datetime import timezone

from netsight.asynchronous import jobtitle
from netsight.asynchronous.statusjson import status_answer


SERVICE = "@async-processes"
#: Of the status, what a listing's item has (``title``: what its page calls the job).
LISTED = (
    "state", "progress", "message", "title", "scheduled_for", "priority",
    "attempt", "max_attempts", "retry_of", "retried_by", "queue",
)


def describe(status, site_url, manager):
    """What the snapshot says of the process besides its status."""
    process_id = status.process_id
    answer = {
        "@id": f"{site_url}/{SERVICE}/{process_id}",
        "process_id": process_id,
        "view": status.view_name,
        "context": status.context_url,
        "owner": status.owner,
        "created": iso(status.created),
        "started": iso(status.started),
        "finished": iso(status.finished),
        "status_url": f"{status.url('completed')}&output_json=1",
        "result_url": None if status.ended_without_result else status.url("result"),
    }
    if manager:
        answer["instance"] = status.instance  # the Zope instance that runs it, or queued it
    return answer


def status(status, request, context, site_url, manager):
    """GET ``@async-processes/<id>``: the status of the process, and the rest.

    ``context``: where its view's default title is looked up (for a process
    started before jobs had titles). The status says, to a manager, a failed
    process's ``error_detail``.
    """
    title = jobtitle.of_process(status, context, request)
    return {**status_answer(status, request, title, manager), **describe(status, site_url, manager)}


def item(status, request, site, site_url, manager):
    """An item of the listing: the state, progress, message and title of the status, and the rest.

    A manager also reads the record's ``error_detail`` (why it failed, was
    interrupted or started again; None if nothing went wrong).
    """
    said = status_answer(status, request, jobtitle.of_process(status, site, request), manager)
    answer = {**describe(status, site_url, manager), **{key: said[key] for key in LISTED}}
    if manager:
        answer["error_detail"] = status.error
    return answer


def iso(timestamp):
    """A time of the record (seconds since the epoch) as ISO 8601 in UTC; None stays None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
