"""A process as ``@async-processes`` shows it: its status, where it runs, whose it is.

The status is what the process's view says of it (``status()``, the JSON of
``completed``); a process whose view or context is gone, and each item of a
listing, get it from a ``StandIn``, which says it as any view would. The
rest comes from the record: the view and context, the owner, the times
(ISO 8601, UTC) and the URLs of its status and result (none for a process
that ended without one: failed, cancelled, interrupted).
"""

from datetime import datetime
from datetime import timezone
from zope.component import queryMultiAdapter

from netsight.asynchronous.pages import ENDED_WITHOUT_RESULT
from netsight.asynchronous.pages import StatusPages


SERVICE = "@async-processes"
#: Of the status, what a listing's item has (``title``: what its page calls the job).
LISTED = ("state", "progress", "message", "title")


class StandIn(StatusPages):
    """The status pages of a process without its view: the view's name and
    context come from the record, the rest (the site's connection, the
    translations) from ``site`` and the request."""

    def __init__(self, site, request, record):
        self.context = site
        self.request = request
        self.record = record
        self.__name__ = record.view_name

    def view_url(self):
        return f"{self.request.physicalPathToURL(self.record.context_path)}/@@{self.record.view_name}"


def view_of(record, site, request):
    """The view that started the process, on its context; a ``StandIn`` if either is gone.

    The context is found without a permission check: who may see the
    process (its owner, a site manager) was decided before.
    """
    context = request["PARENTS"][-1].unrestrictedTraverse(record.context_path, None)
    view = None if context is None else queryMultiAdapter((context, request), name=record.view_name)
    return view if isinstance(view, StatusPages) else StandIn(site, request, record)


def describe(view, record, site_url, manager):
    """What the record says of the process besides its status."""
    request = view.request
    process_id = record.process_id
    answer = {
        "@id": f"{site_url}/{SERVICE}/{process_id}",
        "process_id": process_id,
        "view": record.view_name,
        "context": request.physicalPathToURL(record.context_path),
        "owner": record.owner,
        "created": iso(record.created),
        "started": iso(record.started),
        "finished": iso(record.finished),
        "status_url": f"{view.status_url('completed', process_id)}&output_json=1",
        "result_url": None if view._state(record) in ENDED_WITHOUT_RESULT else view.status_url("result", process_id),
    }
    if manager:
        answer["instance"] = record.instance  # the Zope instance that runs it, or queued it
    return answer


def status(view, record, site_url, manager):
    """GET ``@async-processes/<id>``: the view's status of the process, and the rest.

    The status says, to a manager, a failed process's ``error_detail``.
    """
    return {**view.status(record), **describe(view, record, site_url, manager)}


def item(view, record, site_url, manager):
    """An item of the listing: the state, progress, message and title of the status, and the rest.

    A manager also reads the record's ``error_detail`` (why it failed, was
    interrupted or started again; None if nothing went wrong).
    """
    said = view.status(record)
    answer = {**describe(view, record, site_url, manager), **{key: said[key] for key in LISTED}}
    if manager:
        answer["error_detail"] = record.error
    return answer


def iso(timestamp):
    """A time of the record (seconds since the epoch) as ISO 8601 in UTC; None stays None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
