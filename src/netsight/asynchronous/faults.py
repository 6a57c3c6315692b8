"""This instance's maintenance and claim failures: logged as errors, counted, and shown to Managers.

A maintenance pass that fails (a lost ZEO server, a broken record, a bug
in a claim or in housekeeping) is logged as an error with its traceback
(``netsight.async``) and counted here. The maintenance thread writes the
count, the time of the last failure and what it was on this instance's
heartbeat record (``registry.InstanceRecord``) in its next heartbeat's
transaction, also where the instance has no job (then only when a failure
is new), so that the control panel "Background processes" says, for every
instance sharing the database, when its last maintenance error was and how
many there were.
"""

from dataclasses import dataclass

import logging
import threading
import time


logger = logging.getLogger("netsight.async")

REPEAT = 60.0  # seconds within which the same failure again is logged without its traceback


@dataclass(frozen=True)
class Fault:
    """A failure as the control panel shows it: its time and one line of what it was."""

    when: float
    text: str


class Faults:
    """The failures of this instance's maintenance thread since it started."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0
        self.last = None  # the last Fault
        self._written = 0  # the count that the heartbeat record has

    def failed(self, what, exc):
        """Log the exception being handled as an error, with its traceback, and count it.

        The same failure again within ``REPEAT`` seconds of the last (a ZEO
        server out of reach fails every pass) is logged as an error without
        its traceback, which the log has already.
        """
        now = time.time()
        fault = Fault(now, f"{what}: {type(exc).__name__}: {exc}"[:500])
        with self._lock:
            again = self.last is not None and self.last.text == fault.text and now - self.last.when < REPEAT
            self.count += 1
            self.last = fault
        if again:
            logger.error("netsight.async: %s failed again (%s)", what, fault.text)
        else:
            logger.exception("netsight.async: %s failed", what)

    def unwritten(self):
        """Whether a failure happened that the heartbeat record does not show yet."""
        with self._lock:
            return self.count != self._written

    def write_on(self, instance_record):
        """Put the count and the last failure on ``instance_record`` (in the
        caller's transaction); returns the count it has then, for ``written``."""
        with self._lock:
            count, last = self.count, self.last
        if last is not None and instance_record.errors != count:
            instance_record.errors = count
            instance_record.last_error = last.when
            instance_record.last_error_text = last.text
        return count

    def written(self, count):
        """The heartbeat's transaction that wrote ``count`` committed."""
        with self._lock:
            self._written = max(self._written, count)


def of_instances(instance_records):
    """``[(instance id, errors, last error time, what it was)]`` of the instances
    whose maintenance failed, the latest first (``instance_records``: ``registry.instances``)."""
    failed = [
        (iid, record.errors, record.last_error, record.last_error_text)
        for iid, record in instance_records.items()
        if record.errors
    ]
    return sorted(failed, key=lambda row: row[2] or 0, reverse=True)
