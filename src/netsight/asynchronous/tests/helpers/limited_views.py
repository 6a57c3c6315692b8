"""Views with a time limit or an only-once key (test_time_limits.py, test_only_once.py)."""

from netsight.asynchronous.exceptions import ProcessCancelled
from netsight.asynchronous.view import BaseAsyncView

import threading
import uuid


GATES = {}  # key -> threading.Event: a job waits until the test sets it
STARTED = {}  # key -> threading.Event: set when the job's __run__ runs


def new_gate(test):
    """A new key of GATES (and STARTED); the test's cleanup opens its gate."""
    key = uuid.uuid4().hex
    GATES[key], STARTED[key] = threading.Event(), threading.Event()
    test.addCleanup(GATES.pop, key)
    test.addCleanup(STARTED.pop, key)
    test.addCleanup(GATES[key].set)  # run first: the job ends
    return key


class Reporting(BaseAsyncView):
    """May run ``time_limit`` seconds; writes to its context and reports until
    stopped (``set_progress``), or with ``check`` asks ``is_cancelled`` and returns."""

    time_limit = 0.5

    def __run__(self, process_id, gate, check=""):
        STARTED[gate].set()
        self.context.limited_work = process_id  # work that its end must discard
        opened = GATES[gate]
        while not opened.wait(0.02):  # the job's own pace, not a test's wait
            if check:
                if self.is_cancelled(process_id):
                    return "stopped by is_cancelled"
            else:
                self.set_progress(process_id, 10)
        return "the gate opened"


class Silent(BaseAsyncView):
    """May run ``time_limit`` seconds, never reports: waits until the gate opens, then writes and returns."""

    time_limit = 0.5

    def __run__(self, process_id, gate):
        STARTED[gate].set()
        GATES[gate].wait(120)
        self.context.limited_work = process_id  # too late: discarded
        return "the late result"


class Once(BaseAsyncView):
    """Only once per ``key`` (its form's) for each owner; runs until its gate opens."""

    def dedupe_key(self):
        return self.request.form.get("key") or None

    def __run__(self, process_id, gate, key=""):
        STARTED[gate].set()
        if not GATES[gate].wait(120):
            raise ProcessCancelled(process_id)
        return f"ran once for {key}"


class OnceInSite(Once):
    """Only once per ``key`` in the whole site."""

    dedupe_scope = "site"


class OnceBriefly(BaseAsyncView):
    """Only once per ``name`` in the site; runs ``seconds`` (its own pace), for a
    cluster's instances, where a test cannot open a gate (test_only_once_cluster.py).
    The name is kept with the record ("Back to the form"), where the test finds it."""

    dedupe_scope = "site"

    def dedupe_key(self):
        return self.request.form.get("name") or None

    def __run__(self, process_id, name, seconds="3"):
        threading.Event().wait(float(seconds))
        return f"ran once for {name}"
