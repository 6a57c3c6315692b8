"""What a cancel, a removal or a retry did: one enum each, instead of None, True, False or a string."""

from enum import Enum


class CancelOutcome(Enum):
    """What ``Processes.cancel`` did."""

    #: A queued process was cancelled at once: it never runs.
    CANCELLED = "cancelled"
    #: A running process was asked to stop: it stops at its next progress report or check.
    ASKED = "asked"
    #: It had ended: nothing changed.
    ENDED = "ended"
    #: There is no such process (or it was removed meanwhile).
    UNKNOWN = "unknown"


class RemoveOutcome(Enum):
    """What ``Processes.remove`` did."""

    #: The ended process is forgotten, its result with it.
    REMOVED = "removed"
    #: It is still queued or running: cancel it first.
    ACTIVE = "active"
    #: There is no such process (or it is not the given owner's).
    UNKNOWN = "unknown"


class RetryOutcome(Enum):
    """What ``Processes.retry`` did."""

    #: A new process runs the job again (its id: ``Processes.retry``'s second value).
    RETRIED = "retried"
    #: It may not be retried: it has not ended, ended done or cancelled, kept no request, or was retried already.
    NOT_RETRYABLE = "not_retryable"
    #: An only-once job (``dedupe_key``) whose key another process holds (it waits or runs): nothing ran again;
    #: that process's id is ``Processes.retry``'s second value (show it only to whoever may see it).
    ALREADY_RUNNING = "already_running"
    #: There is no such process (or it was removed meanwhile).
    UNKNOWN = "unknown"
