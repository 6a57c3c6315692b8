"""Views with a Retry button (test_retry_button.py)."""

from netsight.asynchronous.view import BaseAsyncView

import threading
import time
import transaction


# token (form) -> the times its job ran, (process id, time.time()) each
RUNS = {}
LOCK = threading.Lock()


class Flaky(Exception):
    """A failure worth a retry (a service that was out of reach a moment)."""


def _ran(token, process_id):
    with LOCK:
        runs = RUNS.setdefault(token, [])
        runs.append((process_id, time.time()))
        return len(runs)


class FailsOnce(BaseAsyncView):
    """Fails its first run (after writing to its context: aborted with it), then returns; a Retry button."""

    may_retry = True

    def __run__(self, process_id, token):
        run = _ran(token, process_id)
        self.context._retry_mark = f"{token}-{run}"  # its own work: rolled back with its failure
        if run == 1:
            raise ValueError("the first run fails")
        return f"Ran {run} times"


class FailsNoRetry(FailsOnce):
    """Fails its first run too, but its view allows no Retry (1.x's way)."""

    may_retry = False


class RetryWhenAsked(FailsOnce):
    """A Retry button where the request says so (``retry_allowed=1``): ``may_retry`` as a method, asked by each request."""

    def may_retry(self):
        return self.request.form.get("retry_allowed") == "1"




class OnceFailsThenWaits(BaseAsyncView):
    """Only once per token (``dedupe_key``, site-wide): fails its first run, then waits at its gate (``views.GATES``);
    a Retry button (test_retry_button.py: a Retry holds the key)."""

    may_retry = True
    dedupe_scope = "site"

    def dedupe_key(self):
        return f"once-fails-then-waits:{self.request.form.get('token')}"

    def __run__(self, process_id, token, gate):
        from netsight.asynchronous.tests.helpers.views import GATES

        if _ran(token, process_id) == 1:
            raise ValueError("the first run fails")
        GATES[gate].wait(60)
        return "passed"


# token (form) -> what each automatic attempt saw of its context's mark before it wrote its own
SEEN = {}


class FailsUntil(BaseAsyncView):
    """Automatic retries (test_retries.py): raises ``Flaky`` on its first ``fail_times`` runs, then returns.

    Each run writes a mark on its context (its own work, aborted with its failure) after noting the mark it
    found. ``retries``, ``backoff``, ``commit`` (a ``transaction.commit()`` of its own before it fails) and
    ``wrong`` (a ValueError, which it does not retry on) come from the form.
    """

    retry_on = (Flaky,)

    def max_retries(self):
        return int(self.request.form.get("retries", "3"))

    def retry_backoff(self):
        return float(self.request.form.get("backoff", "0.1"))

    def retry_backoff_max(self):
        return float(self.request.form.get("backoff_max", "0.3"))

    def __run__(self, process_id, token, fail_times="2", commit="", wrong=""):
        run = _ran(token, process_id)
        with LOCK:
            SEEN.setdefault(token, []).append(getattr(self.context, "_auto_retry_mark", None))
        self.context._auto_retry_mark = f"{token}-{run}"
        if commit:  # work of its own, committed: a retry would repeat it
            transaction.commit()
        if run <= int(fail_times):
            if wrong:
                raise ValueError("not worth a retry")
            raise Flaky(f"run {run} failed")
        return f"Done on run {run}"


class FailsUntilOnce(FailsUntil):
    """``FailsUntil``, only once per token (``dedupe_key``): its retries hold the key too."""

    def dedupe_key(self):
        return f"fails-until-once:{self.request.form.get('token')}"


class FailsUntilMails(FailsUntil):
    """``FailsUntil`` whose owner is mailed when it is done unwatched (``notify = "mail"``): by the attempt that succeeds."""

    notify = "mail"


class FailsUntilAfterCommit(FailsUntil):
    """``FailsUntil`` that may be retried after a commit of its own (``retry_after_commit``)."""

    retry_after_commit = True


class FailsAtGate(BaseAsyncView):
    """Waits for its gate (``views.GATES``), then fails; a Retry button (test_chromium_retry.py)."""

    may_retry = True

    def __run__(self, process_id, gate):
        from netsight.asynchronous.tests.helpers.views import GATES

        GATES[gate].wait(60)
        raise Flaky("failed at the gate")


class RetriedAtGate(FailsAtGate):
    """``FailsAtGate``, retried once by itself, a minute later (test_chromium_retry.py)."""

    may_retry = False
    retry_on = (Flaky,)
    max_retries = 1
    retry_backoff = 60.0


class RetriedSoonAtGates(BaseAsyncView):
    """Each attempt waits at its own gate (``gates``: the form's, comma-separated, the first attempt's first), then
    fails; retried once by itself ``backoff`` seconds later (at least half of it: the jitter), with no Retry button
    (test_chromium_retry.py: a page follows the attempt from its wait to its run and its end)."""

    retry_on = (Flaky,)
    max_retries = 1

    def retry_backoff(self):
        return float(self.request.form.get("backoff", "8"))

    def __run__(self, process_id, gates, backoff="8"):
        from netsight.asynchronous import registry
        from netsight.asynchronous.tests.helpers.views import GATES

        attempt = registry.find(self._connection(), process_id).attempt
        GATES[gates.split(",")[attempt - 1]].wait(60)
        raise Flaky(f"attempt {attempt} failed at its gate")


class FailsUntilRetryable(FailsUntil):
    """``FailsUntil`` with a Retry button too (test_retry_button.py: a Retry once its automatic attempts are used)."""

    may_retry = True


class FailsFirstAttempt(BaseAsyncView):
    """Fails its first attempt, retried once by itself after ``backoff`` seconds (the form's); the result names
    the instance that ran the attempt (test_retries_cluster.py: the retry runs on any instance)."""

    retry_on = (Flaky,)
    max_retries = 1

    def retry_backoff(self):
        return float(self.request.form.get("backoff", "2"))

    def __run__(self, process_id, backoff="2"):
        from netsight.asynchronous import registry
        from netsight.asynchronous.instanceid import instance_id

        attempt = registry.find(self._connection(), process_id).attempt
        if attempt == 1:
            raise Flaky(f"attempt 1 failed on {instance_id()}")
        return f"attempt {attempt} ran on {instance_id()}"


class PeriodicFlaky(BaseAsyncView):
    """A periodic job (test_periodic.py) whose first attempt fails: its class's retry settings retry it once."""

    may_retry = True
    retry_on = (Flaky,)
    max_retries = 1
    retry_backoff = 0.05
    retry_backoff_max = 0.05

    def __run__(self, process_id):
        from netsight.asynchronous import registry

        attempt = registry.find(self._connection(), process_id).attempt
        if attempt == 1:
            raise Flaky("the first periodic attempt failed")
        return f"attempt {attempt}"
