"""``POST @async-processes/<id>/retry``: run a failed, interrupted or timed-out process again, as a new process.

As the Retry button of its page (``retries.py``): for its owner and the
site's managers, where its view allows it (``may_retry``, asked of its view
on its context: ``retries.view_allows``). 201 with the new process's
summary (``GET @async-processes/<new id>``) and its URL in ``Location``; an
unknown id, another's process, or one whose view allows no Retry: byte for
byte the unknown id's 404; one that may not be retried (done, cancelled,
active, or retried already): 409 with its state. A POST that a browser says
comes from another site (``Origin``, ``Sec-Fetch-Site``:
``protect.cross_site``) is refused (403) before anything is read: unlike a
``DELETE``, a cross-site ``POST`` needs no CORS preflight, and a script
that calls the API sends neither header.
"""

from netsight.asynchronous import protect
from netsight.asynchronous import retries
from netsight.asynchronous.processes import RetryOutcome
from netsight.asynchronous.restapi.services import ProcessesService


class ProcessRetry(ProcessesService):
    """POST ``@async-processes/<id>/retry``."""

    def process(self):
        """The process named in the URL (``<id>/retry``), if the caller may see it, else None."""
        if len(self.params) != 2 or self.params[1] != "retry":
            return None
        return self.processes.visible(self.params[0], site=self.site, shown=False)

    def reply(self):
        if protect.cross_site(self.request):
            return self.error(403, "Forbidden", "A retry cannot be asked from another site.")
        record = self.process()
        if record is None or not retries.view_allows(self.request["PARENTS"][-1], self.request, record):
            return self.not_found()
        outcome, new_id = self.processes.retry(record.process_id)
        if outcome is RetryOutcome.UNKNOWN:  # removed meanwhile
            return self.not_found()
        if outcome is RetryOutcome.NOT_RETRYABLE:
            state = self.processes.status(record).state.value
            conflict = self.error(409, "Conflict", f"The process cannot run again ({state}): only a failed, interrupted or timed-out one, once.")
            return {**conflict, "state": state}
        self.processes.read_anew()  # the request's connection does not see the new process
        answer = self.answer(self.processes.find(new_id))
        self.request.response.setStatus(201)
        self.request.response.setHeader("Location", answer["@id"])
        return answer
