"""A job's progress: its reports held in memory, and written to its record at most once per interval.

``set_progress`` writes the first report of a job at once, then at most one
transaction per ``progress-interval`` seconds: a report that comes sooner is
held (the latest value, with the latest message given), and written when
the interval is over (by the maintenance thread, ``write_due``) or with the
job's end, whichever comes first. A job calling ``set_progress`` in a tight
loop thus costs a few writes a second, not one per call. ``write`` is the
one writer of a report, at once or held: what became of it is a ``Report``.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.cancels import ask_to_cancel
from netsight.asynchronous.instanceid import instance_id

import enum
import threading
import time


class Held(enum.Enum):
    """A report that ``Reports.hold`` kept for later (None: not held, write it now)."""

    FIRST = "first"  # the first held since the last write: the maintenance thread must learn when it is due
    REPLACED = "replaced"  # it replaces one held already


FIRST = Held.FIRST
REPLACED = Held.REPLACED


class Report(enum.Enum):
    """What became of a progress report written to its record (``write``)."""

    WRITTEN = "written"
    CANCEL_ASKED = "cancel asked"  # a cancel was asked (the report is written, if the job is active): it stops
    NOT_ITS_RUN = "not its run"  # the record ended, or is no longer this instance's run: the job stops
    NO_RECORD = "no record"  # there is no such process (any more)

    @property
    def stops_job(self):
        """Whether the job that reported must stop (``ProcessCancelled``)."""
        return self in (Report.CANCEL_ASKED, Report.NOT_ITS_RUN)


def write(db, process_id, progress, message=None):
    """Write a report of ``process_id``, a job of this instance, in a short transaction; returns a ``Report``."""

    def report(record):
        if not record.is_run(instance_id()):
            return Report.NOT_ITS_RUN
        written = record.report(progress, message)
        if record.cancel_requested:
            return Report.CANCEL_ASKED
        return Report.WRITTEN if written else Report.NOT_ITS_RUN

    return registry.change(db, process_id, report) or Report.NO_RECORD


def write_due():
    """Write the held reports whose interval is over (the maintenance thread).

    A job whose record asks it to stop is told (``cancels.ask_to_cancel``);
    one whose record is no longer its run stops at its next report.
    """
    for process_id, db, (progress, message) in REPORTS.due():
        if write(db, process_id, progress, message) is Report.CANCEL_ASKED:
            ask_to_cancel(process_id)


class Reports:
    """The reports of this instance's running jobs, as held in memory."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs = {}  # process id -> _Job

    def hold(self, process_id, db, progress, message, interval):
        """Keep this report for later, if the job's last write is too recent.

        Returns None if the caller must write it now (``write``, and then
        ``written``); else ``Held.FIRST`` if it is the first report held
        since that write (the maintenance thread must learn when it is due)
        or ``Held.REPLACED`` if it replaces one held already. A report held already
        is replaced even when its interval is over (the maintenance thread
        is about to write it): written at once, the newer report could be
        overtaken by the older one, and the stored progress go back.
        """
        now = time.monotonic()
        with self._lock:
            job = self._jobs.get(process_id)
            if job is None or (job.pending is None and now - job.written >= interval):
                return None
            held = Held.REPLACED if job.pending is not None else Held.FIRST
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


class _Job:
    written = float("-inf")
    pending = None
    due = None
    db = None


REPORTS = Reports()
