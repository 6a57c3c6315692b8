"""Views of named queues (test_queues.py, test_queues_cluster.py)."""

from netsight.asynchronous.view import BaseAsyncView

import threading
import time


# process id -> (the queue its view names, time.time() when it ran)
RUNS = {}
LOCK = threading.Lock()


class Export(BaseAsyncView):
    """A job of the queue "exports"; notes when it ran."""

    queue = "exports"

    def __run__(self, process_id):
        with LOCK:
            RUNS[process_id] = (self.queue, time.time())
        return f"Exported {process_id}"


class Report(Export):
    """A job of the queue "reports"."""

    queue = "reports"


class ChosenQueue(Export):
    """A job of the queue the form names (``queue``), or of the default one."""

    def queue(self):
        return self.request.form.get("queue") or None


class BadQueue(Export):
    """An integrator's error: no short name."""

    queue = "not a name!"


class NewlineQueue(Export):
    """An integrator's error: a short name with a newline after it."""

    queue = "exports\n"
