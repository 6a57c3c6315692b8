"""When a view's job may start and how urgent it is: its ``run_after`` and ``priority``, read at its start.

Both are declared on a ``BaseAsyncView`` as class attributes or as methods
that compute them from the request (``self.request``); a view that
declares neither starts as in 1.x.

- ``run_after``: an aware ``datetime``, or a naive one read as the
  server's local time; None (the default), or a time that has come: now.
  A later one makes the process *scheduled*: it waits in the database
  (``registry.SCHEDULED_KEY``) and is queued for any instance with a pool
  once it is due (``registry.queue_due``, the maintenance pass).
- ``priority``: an int from -100 to 100 (Django's range), 0 by default. A
  value out of range, or no int, is the integrator's error: the start
  raises ``ValueError`` (or ``TypeError``), which Zope answers 500 and logs.

A job's place among the waiting ones is its ``rank`` (``rank``): the time
it was started, less ``AGING`` seconds per step of priority. The lowest
rank starts first: a higher priority first, equal ones in arrival order;
and a job waiting ``AGING`` seconds goes ahead of one a step higher that
comes after that: its effective priority rises by one step per ``AGING``
seconds waited (aging), so that a low one is never starved.
"""

from datetime import datetime
from netsight.asynchronous.sitetime import LATEST
from netsight.asynchronous.sitetime import LATEST_YEAR

import time


MIN_PRIORITY = -100
MAX_PRIORITY = 100
DEFAULT_PRIORITY = 0
# Seconds of waiting worth one step of priority (aging): a job of priority 0 is
# passed only by jobs of priority 100 started less than 100 * AGING seconds after it.
AGING = 3.0


def run_after_of(view, now=None):
    """When the job of ``view`` may start (a time.time()), or None: now."""
    value = _declared(view, "run_after")
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{type(view).__name__}.run_after must be a datetime or None, not {value!r}")
    try:
        when = value.timestamp()  # a naive datetime: the server's local time
    except (ValueError, OverflowError, OSError):  # datetime.max east of UTC: past the year 9999
        when = LATEST
    if when >= LATEST:  # an integrator's error (``datetime.max``): the pages and lists could not show it
        raise ValueError(f"{type(view).__name__}.run_after must be before the year {LATEST_YEAR}, not {value!r}")
    return when if when > (time.time() if now is None else now) else None


def priority_of(view):
    """The priority of ``view``'s job, checked: an int from -100 to 100."""
    value = _declared(view, "priority")
    if value is None:
        return DEFAULT_PRIORITY
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{type(view).__name__}.priority must be an int from -100 to 100, not {value!r}")
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise ValueError(f"{type(view).__name__}.priority must be from -100 to 100, not {value}")
    return value


def rank(created, priority):
    """A waiting job's place (lower: sooner): its start time, ``AGING`` seconds earlier per step of priority."""
    return created - (priority or 0) * AGING


def _declared(view, name):
    """The view's attribute ``name``, called if it is a method."""
    value = getattr(view, name, None)
    return value() if callable(value) else value
