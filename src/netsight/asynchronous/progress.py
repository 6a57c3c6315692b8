"""Coalesced progress: a job's reports are kept in memory and written at most once per interval.

``set_progress`` writes the first report of a job at once, then at most one
transaction per ``progress-interval`` seconds: a report that comes sooner is
held (the latest value, with the latest message given), and written when
the interval is over (by the maintenance thread) or with the job's end,
whichever comes first. A job calling ``set_progress`` in a tight loop thus
costs a few writes a second, not one per call.
"""

import threading
import time


class Reports:
    """The reports of this instance's running jobs, as held in memory."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs = {}  # process id -> _Job

    def hold(self, process_id, db, progress, message, interval):
        """Keep this report for later, if the job's last write is too recent.

        Returns None if the caller must write it now (and then call
        ``written``); else ``FIRST`` if it is the first report held since
        that write (the maintenance thread must learn when it is due) or
        ``REPLACED`` if it replaces one held already. A report held already
        is replaced even when its interval is over (the maintenance thread
        is about to write it): written at once, the newer report could be
        overtaken by the older one, and the stored progress go back.
        """
        now = time.monotonic()
        with self._lock:
            job = self._jobs.get(process_id)
            if job is None or (job.pending is None and now - job.written >= interval):
                return None
            held = REPLACED if job.pending is not None else FIRST
            if message is None and job.pending is not None:
                message = job.pending[1]  # the latest message given stays
            job.pending = (progress, message)
            job.db = db
            job.due = job.written + interval
            return held

    def written(self, process_id):
        """The job's report was written just now: nothing is held."""
        with self._lock:
            job = self._jobs.setdefault(process_id, _Job())
            job.written = time.monotonic()
            job.pending = None

    def due(self):
        """``[(process id, db, (progress, message))]`` of held reports whose interval is over."""
        now = time.monotonic()
        with self._lock:
            found = []
            for process_id, job in self._jobs.items():
                if job.pending is not None and job.due <= now:
                    found.append((process_id, job.db, job.pending))
                    job.pending = None
                    job.written = now
            return found

    def next_due(self):
        """The ``time.monotonic()`` at which the next held report is due, or None."""
        with self._lock:
            dues = [job.due for job in self._jobs.values() if job.pending is not None]
        return min(dues) if dues else None

    def end(self, process_id):
        """The job ended: forget it; returns its held report, or None."""
        with self._lock:
            job = self._jobs.pop(process_id, None)
        return None if job is None else job.pending


FIRST = "first"
REPLACED = "replaced"


class _Job:
    written = float("-inf")
    pending = None
    due = None
    db = None


REPORTS = Reports()
