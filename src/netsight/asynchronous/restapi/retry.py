"""``POST @async-processes/<id>/retry``: run a failed, interrupted or timed-out process again, as a new process.

As the Retry button of its page (``retries.py``): for its owner and the
site's managers, where its view allows it (``may_retry``, asked of its view
on its context: ``retries.view_allows``). 201 with the new process's
summary (``GET @async-processes/<new id>``) and its URL in ``Location``; an
unknown id, another's process, or one whose view allows no Retry: byte for
byte the unknown id's 404; one that may not be retried (done, cancelled,
active, or retried already): 409 with its state. As a start: a retry
beyond a start's caps (``queue-limit``; for an anonymous visitor's process,
``max-per-address`` and ``anonymous-queue-limit``) is 503 with
``Retry-After``, nothing written; of an only-once job (``dedupe_key``)
whose key another process holds, 200 with that process's summary,
``already_running`` and its URL in ``Location`` where the caller may see
it, else 409 with ``already_running`` and nothing of it. A POST that a browser says
comes from another site (``Origin``, ``Sec-Fetch-Site``:
``protect.cross_site``) is refused (403) before anything is read: unlike a
``DELETE``, a cross-site ``POST`` needs no CORS preflight, and a script
that calls the API sends neither header.
"""

from zope.i18n import translate

from netsight.asynchronous import protect
from netsight.asynchronous import retries
from netsight.asynchronous.exceptions import QueueFullError
from netsight.asynchronous.i18n import _
from netsight.asynchronous.processes import RetryOutcome
from netsight.asynchronous.restapi.services import ProcessesService
from netsight.asynchronous.statustexts import STARTED_BY_SOMEONE_ELSE


CROSS_SITE = _("restapi_retry_cross_site", default="A retry cannot be asked from another site.")
QUEUE_FULL = _("queue_full", default="Too many processes are waiting to start.")  # the start's busy page says it


class ProcessRetry(ProcessesService):
    """POST ``@async-processes/<id>/retry``."""

    def process(self):
        """The process named in the URL (``<id>/retry``), if the caller may see it, else None."""
        if len(self.params) != 2 or self.params[1] != "retry":
            return None
        return self.processes.visible(self.params[0], site=self.site, shown=False)

    def reply(self):
        if protect.cross_site(self.request):
            return self.error(403, "Forbidden", translate(CROSS_SITE, context=self.request))
        record = self.process()
        if record is None or not retries.view_allows(self.request["PARENTS"][-1], self.request, record):
            return self.not_found()
        try:
            outcome, new_id = self.processes.retry(record.process_id)
        except QueueFullError:  # a start's caps (Retry-After set): nothing was written
            return self.error(503, "ServiceUnavailable", translate(QUEUE_FULL, context=self.request))
        if outcome is RetryOutcome.UNKNOWN:  # removed meanwhile
            return self.not_found()
        if outcome is RetryOutcome.NOT_RETRYABLE:
            state = self.processes.status(record).state.value
            text = _(
                "restapi_retry_conflict",
                default="The process cannot run again (${state}): only a failed, interrupted or timed-out one, once.",
                mapping={"state": state},
            )
            return {**self.error(409, "Conflict", translate(text, context=self.request)), "state": state}
        self.processes.read_anew()  # the request's connection does not see the new process
        if outcome is RetryOutcome.ALREADY_RUNNING:  # only once: the process that holds its key, as to a start
            holder = self.processes.find(new_id)
            if holder is None or not self.processes.may_see(holder):
                conflict = self.error(409, "Conflict", translate(STARTED_BY_SOMEONE_ELSE, context=self.request))
                return {**conflict, "already_running": True}
            answer = {**self.answer(holder), "already_running": True}
            self.request.response.setStatus(200)
            self.request.response.setHeader("Location", answer["@id"])
            return answer
        answer = self.answer(self.processes.find(new_id))
        self.request.response.setStatus(201)
        self.request.response.setHeader("Location", answer["@id"])
        return answer
