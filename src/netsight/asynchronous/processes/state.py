"""The states a process reads as: one enum, and what each means for its pages."""

from enum import StrEnum

from netsight.asynchronous import registry


class ProcessState(StrEnum):
    """What a process reads as now (``Processes.status``).

    The values are the strings that the JSON answers and the REST API say
    (``"queued"``, ``"running"``...), and that the records keep: a member
    compares equal to its string. A record may be stored as active while
    its instance stopped or died: it then reads ``INTERRUPTED``, or
    ``QUEUED`` if it will run again (derived at read time, never written
    by a read).
    """

    SCHEDULED = registry.SCHEDULED
    QUEUED = registry.QUEUED
    RUNNING = registry.RUNNING
    DONE = registry.DONE
    FAILED = registry.FAILED
    CANCELLED = registry.CANCELLED
    INTERRUPTED = registry.INTERRUPTED
    TIMED_OUT = registry.TIMED_OUT

    @property
    def is_finished(self):
        """Whether the process ended: done, failed, cancelled, interrupted or timed out."""
        return self not in (ProcessState.SCHEDULED, ProcessState.QUEUED, ProcessState.RUNNING)

    @property
    def is_active(self):
        """Whether it waits for its time or to start, or runs."""
        return not self.is_finished

    @property
    def ended_without_result(self):
        """Whether it ended without a result: failed, cancelled, interrupted or timed out."""
        return self.is_finished and self is not ProcessState.DONE
