"""Which processes a browser is watching: each one's last status page, in this instance's memory.

Polls never write to the database, so whether a job's end is watched is
known only where its polls are answered: each status page of a process
(``pages.StatusPages._record``) says here until when the next poll is due
(twice the page's longest poll interval from now). A job that ends while
no poll is due, on the instance that runs it, ended unwatched: its tab was
closed, or hidden (a hidden tab polls every 30 s at most), or its polls go
to another instance of a cluster (then this instance never heard of them:
``notify.py`` mails rather than stays silent). Nothing here is written to
the database, and an entry goes at the job's end (``forget``); entries of
processes that ended elsewhere go once they are stale.
"""

import threading
import time


LIMIT = 10_000  # entries kept before stale ones are swept (polls of other instances' jobs)

_due = {}  # process id -> time.monotonic() until which a poll of it is due
_lock = threading.Lock()


def seen(process_id, poll_interval):
    """A status page of ``process_id`` was answered; the page polls again within ``poll_interval`` s."""
    now = time.monotonic()
    with _lock:
        _due[process_id] = now + 2 * float(poll_interval)
        if len(_due) > LIMIT:
            for stale in [pid for pid, until in _due.items() if until < now]:
                del _due[stale]


def watched(process_id):
    """Whether a browser of this instance watches ``process_id``: a poll of it is due."""
    until = _due.get(process_id)
    return until is not None and time.monotonic() <= until


def forget(process_id):
    """The process ended here: its entry goes."""
    with _lock:
        _due.pop(process_id, None)
