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


