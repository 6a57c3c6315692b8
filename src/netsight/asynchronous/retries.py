"""Retries: a failed, interrupted or timed-out process run again with the request it kept, as a new process linked to it.

The **Retry** button (issue 27, point 5; ``BaseAsyncView.may_retry``): its
owner or a manager of its site runs it again now (``Processes.retry``, ``retrybutton.py``).

Automatic retries (``retry_on``, ``max_retries``, ``retry_backoff``,
``retry_backoff_max`` on the view): an attempt whose ``__run__`` raised one
of ``retry_on`` (its transaction aborted, as for any failure) and that has
attempts left is retried later: its end transaction adds the next attempt
as a *scheduled* process (``after_failure``), due ``backoff_delay`` seconds
later, which the maintenance pass of any instance with a pool queues at its
time. Only if the job committed nothing of its own (``transaction.commit()``
in ``__run__``, noticed by ``worker.Attempt.watching_commits``), or its view
declares ``retry_after_commit``, as for Zope's conflict retries.

Each attempt is a process of its own (``retry_of`` names the one before,
``retried_by`` the one after, ``attempt`` counts them): docs/states.rst
says why. A retry runs with the request the first attempt kept (its
``StoredRequest``, without credentials), as the same user.
"""

from zope.component import queryMultiAdapter

from netsight.asynchronous import addresses
from netsight.asynchronous import registry
from netsight.asynchronous.exceptions import QueueFullError

import logging
import math
import random
import time


logger = logging.getLogger("netsight.async")

#: What a retry copies of the attempt before it: where and how it runs (docs/states.rst, "What a retry keeps").
#: Not copied: ``run_after`` (a retry runs now, or after its backoff), ``dedupe`` (taken over: ``next_attempt``),
#: ``mail`` (its link names the new process: ``_mail_of``), ``address_key`` (``next_attempt``).
COPIED = (
    "expiry",
    "form_values",
    "time_limit",
    "priority",
    "queue",
    "max_per_user",
    "pool_size",
    "max_reruns",
    "retryable",
    "max_attempts",
    "title",
)

#: The share of a retry's delay that is random (``backoff_delay``): "equal jitter", so that attempts
#: that failed together do not all come back at once, and the delay still grows with each attempt.
JITTER = 0.5
#: ``retry_backoff`` and ``retry_backoff_max`` of a view that declares none (seconds).
DEFAULT_BACKOFF = 1.0
DEFAULT_BACKOFF_MAX = 600.0
#: The longest ``retry_backoff`` or ``retry_backoff_max`` (seconds, 30 days): one longer (``inf``, 1e12)
#: would schedule an attempt that never runs, at a time no page can show.
LONGEST_BACKOFF = 30 * 24 * 3600.0


def backoff_delay(attempt, base=DEFAULT_BACKOFF, cap=DEFAULT_BACKOFF_MAX, rng=random):
    """Seconds to wait after the failed attempt number ``attempt`` (1 for the first) before the next one.

    ``min(cap, base * 2 ** (attempt - 1)) * (1 - JITTER * u)``, ``u`` uniform in [0, 1) (``rng.random()``):
    it doubles with each attempt until ``cap``, never exceeds it, and is at least half of it.
    """
    delay = min(float(cap), float(base) * 2 ** max(0, attempt - 1))
    return max(0.0, delay * (1 - JITTER * rng.random()))


class AutoRetry:
    """What a failed job's view said of its automatic retry: the backoff of its next attempt (``wanted``)."""

    def __init__(self, base, cap):
        self.base = base
        self.cap = cap

    def delay(self, attempt, rng=random):
        """Seconds until the attempt after ``attempt``."""
        return backoff_delay(attempt, self.base, self.cap, rng)


def retry_on(view):
    """The exception classes ``view`` retries on (``retry_on``: a class, a tuple of them, or a method); () by default."""
    value = _declared(view, "retry_on")
    if not value:
        return ()
    if isinstance(value, type):
        return (value,)
    return tuple(value)


def wanted(view, exc):
    """At the failure of ``view``'s ``__run__`` with ``exc``: an ``AutoRetry`` if ``exc`` is one of its
    ``retry_on`` and it allows retries (``max_retries``), else None. Whether attempts are left is the
    record's to say (``after_failure``)."""
    try:
        if max_retries(view) <= 0:
            return None
        classes = retry_on(view)
        if not classes or not isinstance(exc, classes):
            return None
        base = _seconds(_declared(view, "retry_backoff"), DEFAULT_BACKOFF)
        cap = _seconds(_declared(view, "retry_backoff_max"), DEFAULT_BACKOFF_MAX)
    except Exception:  # the integrator's retry_on is no exception classes, or a method of theirs failed
        logger.exception("%s: its retry settings could not be read; process not retried", type(view).__name__)
        return None
    return AutoRetry(base, cap)


def after_failure(record, attempt, now=None, rng=random):
    """In the end transaction of the failed ``record`` (its job's worker ``attempt``): add its next attempt,
    scheduled after the backoff, if its view wanted one (``attempt.auto_retry``, set by ``wanted``), attempts
    are left, and the job committed nothing of its own (or its view allows a retry after a commit).
    Always true (it goes on the end's ``and`` chain)."""
    auto = getattr(attempt, "auto_retry", None)
    if auto is not None and record.state == registry.FAILED and record.attempt < record.max_attempts:  # not one cancelled
        if attempt.may_retry():
            delay = auto.delay(record.attempt, rng)
            run_after = (time.time() if now is None else now) + delay
            new_id = next_attempt(record._p_jar.root(), record, run_after=run_after, button=False)
            if new_id is not None:
                logger.info(
                    "Process %s failed (attempt %s of %s): attempt %s is %s, in %.1f s",
                    record.process_id, record.attempt, record.max_attempts, record.attempt + 1, new_id, delay,
                )
                return True
            logger.error("Process %s failed: its next attempt could not be added: %s", record.process_id, record.error)
        else:
            logger.error(
                "Process %s failed after it had committed work of its own: not retried (see retry_after_commit)",
                record.process_id,
            )
    elif auto is not None and record.state == registry.FAILED:  # its failure was logged as a warning
        logger.error(
            "Process %s failed on its last attempt (%s of %s): %s",
            record.process_id, record.attempt, record.max_attempts, record.error,
        )
    return without_automatic_retry(record)


def without_automatic_retry(record):
    """``record`` failed and no automatic retry follows (not its job's exception: its worker could not start or
    take it, ``_run_here``, ``claims._give_up``): its request stays only for a Retry button. Always true."""
    if not record.retryable:  # no Retry button either: its request goes now
        _forget_request(record)
    return True


def _forget_request(record):
    """``record``'s request (and what its retry would take over with it) goes: nothing will run it again here."""
    record.retry_request = record.retry_dedupe = record.retry_address_key = None


def _declared(view, name):
    """The view's attribute ``name``, called if it is a method (an exception class is no method)."""
    value = getattr(view, name, None)
    if callable(value) and not isinstance(value, type):
        value = value()
    return value


def _seconds(value, default):
    """``value`` as seconds (from 0 to ``LONGEST_BACKOFF``), or ``default`` if it is none (or nan)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if math.isnan(seconds):
        return default
    return min(max(0.0, seconds), LONGEST_BACKOFF)


def may_retry(view):
    """Whether ``view`` lets a process of it be retried by a button: its ``may_retry``, an attribute or a method (False by default)."""
    allowed = getattr(view, "may_retry", False)
    if callable(allowed):
        allowed = allowed()
    return bool(allowed)


def max_retries(view):
    """How many automatic retries ``view`` allows (``max_retries``, at least 0)."""
    try:
        return max(0, int(_declared(view, "max_retries") or 0))
    except (TypeError, ValueError):
        return 0


def keep_for_retry(view, record):
    """At a start: note on ``record`` whether a Retry button may run it again and how many automatic attempts it has;
    True if its request must then outlive a failure."""
    retries = max_retries(view) if retry_on(view) else 0
    record.max_attempts = 1 + retries
    record.retryable = may_retry(view)
    return record.retryable or retries > 0


def keep_for_schedule(factory, record):
    """At a periodic start (periodic.py; no request to ask a method with): ``keep_for_retry`` from the values that
    the view's class ``factory`` declares. A ``retry_on``, ``max_retries`` or ``may_retry`` that is a method is
    none here (logged once per view: ``_warn_methods``); the attempt itself still asks the view's ``retry_on`` and
    backoff when it fails, with the job's request."""
    declared = {name: getattr(factory, name, None) for name in ("retry_on", "max_retries", "may_retry")}
    methods = sorted(name for name, value in declared.items() if callable(value) and not isinstance(value, type))
    _warn_methods(record.view_name, methods)
    classes = declared["retry_on"] if "retry_on" not in methods else ()
    classes = (classes,) if isinstance(classes, type) else tuple(classes or ())
    try:
        retries = 0 if "max_retries" in methods or not classes else max(0, int(declared["max_retries"] or 0))
    except (TypeError, ValueError):
        retries = 0
    record.max_attempts = 1 + retries
    record.retryable = "may_retry" not in methods and bool(declared["may_retry"])
    return record.retryable or retries > 0


_WARNED = set()  # the views whose periodic starts were said to read no method of theirs (``keep_for_schedule``)


def _warn_methods(view_name, methods):
    if methods and view_name not in _WARNED:
        _WARNED.add(view_name)
        logger.warning(
            "Periodic jobs of %s: its %s %s a method, which a periodic start cannot ask (it has no request); "
            "declare a value on the class for its periodic jobs",
            view_name, " and ".join(methods), "is" if len(methods) == 1 else "are",
        )


def view_allows(root, request, record):
    """Whether the view that started ``record`` allows a Retry button now (its ``may_retry``, asked with ``request``),
    looked up on its context from ``root`` (the Zope application): the lists' and the REST API's check, as the
    process page's is its own view's. False if the context or the view is gone."""
    context = root.unrestrictedTraverse(record.context_path, None)
    if context is None:
        return False
    view = queryMultiAdapter((context, request), name=record.view_name)
    return view is not None and may_retry(view)


def may_be_retried(record, button=True):
    """Whether ``record`` may be retried now: it ended failed, interrupted or timed out, kept its request, was not retried
    yet, and (``button``) its view allowed a Retry button at its start."""
    return (
        record.state in registry.RETRY_FROM
        and record.retry_request is not None
        and record.retried_by is None
        and (record.retryable or not button)
    )


def next_attempt(root, record, run_after=None, button=True, instance=registry.UNCLAIMED, ticket=None, admit=None):
    """Add, in the transaction of ``root``, the next attempt of the ended ``record``: a new process, its ``retry_of``,
    queued for ``instance`` (by default any instance with a pool, which claims it) or scheduled at ``run_after`` (a
    time.time()), for any. Its request moves to the new one, and with it the only-once entry (``dedupe_key``)
    that ``record`` held (``retry_dedupe``: the job still waits, so a second start must find it) and an anonymous
    visitor's address key (``retry_address_key``: it counts against its address's cap, as its start did).
    ``admit(new, key)``: a Retry button's caps (``retry_now``), which hold the address key it returns or raise
    ``QueueFullError``; without it the kept key is held as it is.

    :returns: the new process's id, or None if ``record`` may not be retried (``may_be_retried``).
    """
    if not may_be_retried(record, button):
        return None
    new = registry.ProcessRecord(
        registry.new_process_id(),
        view_name=record.view_name,
        context_path=record.context_path,
        owner=record.owner,
        anonymous_key=record.anonymous_key,
        site=record.site,
    )
    for name in COPIED:
        if name in record.__dict__:
            setattr(new, name, getattr(record, name))
    new.retry_of = record.process_id
    new.dedupe = record.retry_dedupe  # ``registry.add`` indexes it for the new one; the ended one's release leaves it then
    key = record.retry_address_key if record.owner is None else None
    if admit is not None:
        key = admit(new, key)
    elif key:
        addresses.hold(root, key, new.process_id, lambda pid: registry.still_held(root, pid))
    new.address_key = key
    new.mail = _mail_of(record, new.process_id)  # notify = "mail": the attempt that succeeds mails its owner
    new.attempt = record.attempt + 1
    new.request = record.retry_request
    _forget_request(record)  # it goes with the new attempt
    record.retried_by = new.process_id
    if run_after is not None and run_after > time.time() and hasattr(new, "schedule"):
        new.schedule(run_after)  # scheduled: a worker queues it at its time (scheduling)
        instance, ticket = registry.UNCLAIMED, None
    registry.add(root._p_jar, new, instance=instance, ticket=ticket)
    return new.process_id


def _mail_of(record, new_id):
    """What the next attempt of ``record`` keeps for its owner's mail (``notify.wanted``): its link names ``new_id``."""
    mail = getattr(record, "mail", None)
    if not mail:
        return None
    return {**mail, "url": mail["url"].replace(f"process_id={record.process_id}", f"process_id={new_id}")}
