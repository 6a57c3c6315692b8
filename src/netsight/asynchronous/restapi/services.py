"""The services of ``@async-processes``, on a Plone site.

``GET @async-processes`` lists the caller's processes (a site manager's:
all), newest first, in batches; ``GET @async-processes/<id>`` answers a
process's status, ``DELETE @async-processes/<id>`` cancels it. Ownership
decides, as on the status pages: a process answers only its owner (the
user, or the anonymous browser holding its cookie) and the site's managers
(those who hold "netsight.async: Manage processes" on the site:
``owners.is_manager``), and anyone else gets the 404 of an unknown id. They only read, but for the
cancel, which writes in a transaction of its own.
"""

from AccessControl import getSecurityManager
from plone.restapi.batching import HypermediaBatch
from plone.restapi.services import Service
from zope.i18n import translate
from zope.interface import implementer
from zope.publisher.interfaces import IPublishTraverse

from netsight.asynchronous import owners
from netsight.asynchronous import queues
from netsight.asynchronous.forminput import whole_number
from netsight.asynchronous.listing import ANY as ANY_QUEUE
from netsight.asynchronous.processes import CancelOutcome
from netsight.asynchronous.processes import Processes
from netsight.asynchronous.processes import ProcessState
from netsight.asynchronous.replay import NOT_SHARED
from netsight.asynchronous.restapi import summary
from netsight.asynchronous.statustexts import NO_SUCH_PROCESS


MAX_SIZE = 200  # the largest b_size: a batch loads its records
STATES = tuple(state.value for state in ProcessState)


@implementer(IPublishTraverse)
class ProcessesService(Service):
    """``@async-processes``, and ``@async-processes/<id>`` (``self.params``)."""

    def __init__(self, context, request):
        super().__init__(context, request)
        self.params = []
        self.processes = Processes(request)

    def publishTraverse(self, request, name):
        self.params.append(name)  # the path below the service: the process id
        return self

    def render(self):
        self.request.response.setHeader("Cache-Control", NOT_SHARED)
        return super().render()

    @property
    def site(self):
        """The path of the Plone site that contains this context (``owners.site_path``)."""
        return owners.site_path(self.context)

    @property
    def manager(self):
        """Whether the caller manages the site that contains this context
        (found from the Zope root by its path: ``owners.is_manager``)."""
        return self.processes.manages(self.site)

    def process(self):
        """The process named in the URL, if the caller may see it, else None.

        A result shown and gone is unknown here: the REST API knows it no more.
        """
        if len(self.params) != 1:
            return None
        return self.processes.visible(self.params[0], site=self.site, shown=False)

    def answer(self, record):
        """The status of the process, and the rest (``summary.status``)."""
        status = self.processes.status(record)
        root = self.request["PARENTS"][-1]
        context = root.unrestrictedTraverse(status.context_path, None)  # its view's default title is looked up there
        return summary.status(
            status, self.request, self.context if context is None else context, self.context.absolute_url(), self.manager
        )

    def not_found(self):
        return self.error(404, "NotFound", translate(NO_SUCH_PROCESS, context=self.request))

    def error(self, status, kind, message):
        """An error as plone.restapi's services answer one."""
        self.request.response.setStatus(status)
        return {"error": {"type": kind, "message": message}}


class ProcessesGet(ProcessesService):
    """GET: the caller's processes, or one process's status."""

    def reply(self):
        if not self.params:
            return self.listing()
        record = self.process()
        if record is None:
            return self.not_found()
        return self.answer(record)

    def listing(self):
        """The processes, newest first, as plone.restapi batches a listing.

        Query: ``state`` (a stored state), ``queue`` (a view's queue; ``default``
        for the default one), and for a site manager ``owner`` (a user id);
        ``b_start`` and ``b_size``.
        """
        form = self.request.form
        state, owner = form.get("state") or None, form.get("owner") or None
        if state is not None and state not in STATES:
            return self.error(400, "BadRequest", f"Unknown state {state!r}: one of {', '.join(STATES)}.")
        queue = form.get("queue") or None
        if queue is not None and not queues.is_name(queue):
            return self.error(400, "BadRequest", "Invalid queue: one queue's name (default for the default queue).")
        queue = ANY_QUEUE if queue is None else queues.of_name(queue)
        if whole_number(form.get("b_start", "0")) is None:
            return self.error(400, "BadRequest", "Invalid b_start: not a whole number.")
        if whole_number(form.get("b_size", "1"), 1, MAX_SIZE) is None:
            return self.error(400, "BadRequest", f"Invalid b_size: a whole number from 1 to {MAX_SIZE}.")
        manager = self.manager
        if not manager:
            user_id = getSecurityManager().getUser().getId()
            if owner is not None and (user_id is None or owner != user_id):
                return self.error(400, "BadRequest", "Only the site's managers may list another owner's processes.")
            owner = owners.caller_key(self.request)
        elif owner is not None and not isinstance(owner, str):
            return self.error(400, "BadRequest", "Give one owner.")
        records = [] if owner is None and not manager else self.processes.listing(self.site, state, owner, queue)
        batch = HypermediaBatch(self.request, records)
        site_url = self.context.absolute_url()
        answer = {"@id": batch.canonical_url, "items_total": batch.items_total}
        links = batch.links
        if links:
            answer["batching"] = links
        answer["items"] = [
            summary.item(self.processes.status(record), self.request, self.context, site_url, manager)
            for record in batch
            if self.processes.listed(record)
        ]
        return answer


class ProcessDelete(ProcessesService):
    """DELETE ``@async-processes/<id>``: cancel the process.

    A queued process is cancelled at once, a running one is asked to stop:
    200 with its status read anew (``"cancelled"``, or ``"running"`` with
    ``"cancelling": true``). One that had ended otherwise cannot be: 409
    Conflict, with its state.
    """

    def reply(self):
        record = self.process()
        if record is None:
            return self.not_found()
        process_id = record.process_id
        outcome = self.processes.cancel(process_id)
        self.processes.read_anew()  # the request's connection still sees the process as it was
        record = self.processes.find(process_id)
        if outcome is CancelOutcome.UNKNOWN or record is None:  # removed meanwhile
            return self.not_found()
        answer = self.answer(record)
        if outcome is CancelOutcome.ENDED and answer["state"] != ProcessState.CANCELLED:
            conflict = self.error(409, "Conflict", f"The process has ended ({answer['state']}): it cannot be cancelled.")
            return {**conflict, "state": answer["state"]}
        return answer
