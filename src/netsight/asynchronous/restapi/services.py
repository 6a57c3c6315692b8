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
from netsight.asynchronous import registry
from netsight.asynchronous.instance import cancel
from netsight.asynchronous.listing import is_gone
from netsight.asynchronous.listing import Listing
from netsight.asynchronous.pages import app_connection
from netsight.asynchronous.pages import caught_up
from netsight.asynchronous.pages import expired
from netsight.asynchronous.pages import NO_SUCH_PROCESS
from netsight.asynchronous.pages import PROCESS_ID
from netsight.asynchronous.pages import whole_number
from netsight.asynchronous.replay import NOT_SHARED
from netsight.asynchronous.restapi import summary


MAX_SIZE = 200  # the largest b_size: a batch loads its records


@implementer(IPublishTraverse)
class ProcessesService(Service):
    """``@async-processes``, and ``@async-processes/<id>`` (``self.params``)."""

    def __init__(self, context, request):
        super().__init__(context, request)
        self.params = []
        self._fresh = None

    def publishTraverse(self, request, name):
        self.params.append(name)  # the path below the service: the process id
        return self

    def render(self):
        self.request.response.setHeader("Cache-Control", NOT_SHARED)
        return super().render()

    @property
    def manager(self):
        """Whether the caller manages the site that contains this context
        (found from the Zope root by its path: ``owners.is_manager``)."""
        return owners.is_manager(self.request, owners.site_path(self.context))

    def process(self):
        """The process named in the URL, if the caller may see it, else None."""
        if len(self.params) != 1 or not PROCESS_ID.fullmatch(self.params[0]):
            return None
        record = registry.find(self.connection(), self.params[0])
        if record is None:
            record = self.find_after_sync(self.params[0])
        if (
            record is None
            or expired(record)
            or record.result_gone()  # shown and gone: as before, the REST API knows it no more
            or record.site != owners.site_path(self.context)  # another site's process is as unknown
            or not owners.may_see(record, self.request)
        ):
            return None  # another's process is as unknown as one that does not exist
        return record

    def connection(self):
        """The main database's connection: the registry's (the Zope application's)."""
        return self._fresh if self._fresh is not None else app_connection(self.request)

    def find_after_sync(self, process_id):
        """The record, read anew once a storage with a server (ZEO) has caught up.

        As on the status pages: a process that another instance started a
        moment ago may not have reached this one yet. A round trip to the
        server (``ping``) brings it; a new connection, closed with the
        request, sees it.
        """
        if self._fresh is not None:
            return None
        self._fresh = caught_up(self.request, self.connection())
        return None if self._fresh is None else registry.find(self._fresh, process_id)

    def view_of(self, record):
        return summary.view_of(record, self.context, self.request)

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
        return summary.status(self.view_of(record), record, self.context.absolute_url(), self.manager)

    def listing(self):
        """The processes, newest first, as plone.restapi batches a listing.

        Query: ``state`` (a stored state), and for a site manager ``owner``
        (a user id); ``b_start`` and ``b_size``.
        """
        form = self.request.form
        state, owner = form.get("state") or None, form.get("owner") or None
        if state is not None and state not in registry.STATES:
            return self.error(400, "BadRequest", f"Unknown state {state!r}: one of {', '.join(registry.STATES)}.")
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
        records = [] if owner is None and not manager else Listing(self.connection(), owners.site_path(self.context), state, owner)
        batch = HypermediaBatch(self.request, records)
        site_url = self.context.absolute_url()
        answer = {"@id": batch.canonical_url, "items_total": batch.items_total}
        links = batch.links
        if links:
            answer["batching"] = links
        answer["items"] = [
            summary.item(summary.StandIn(self.context, self.request, record), record, site_url, manager)
            for record in batch
            if not is_gone(record) and not expired(record) and not record.result_gone()
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
        changed = cancel(self.connection().db(), process_id)
        view = self.view_of(record)
        # the request's connection still sees the process as it was
        record = registry.find(view.read_anew(), process_id)
        if changed is None or record is None:  # removed meanwhile
            return self.not_found()
        answer = summary.status(view, record, self.context.absolute_url(), self.manager)
        if changed is False and answer["state"] != registry.CANCELLED:
            conflict = self.error(409, "Conflict", f"The process has ended ({answer['state']}): it cannot be cancelled.")
            return {**conflict, "state": answer["state"]}
        return answer
