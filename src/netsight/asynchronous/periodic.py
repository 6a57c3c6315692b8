"""Periodic jobs: views started on a schedule (``<async:periodic>``), once per period across all instances.

A schedule is registered in ZCML (``meta.zcml``'s ``periodic`` directive,
``zcml.py``): a view's name, the path of its context, ``every`` (seconds)
or ``cron`` (five fields, ``cron.py``) and the user it runs as. Each
instance that runs jobs (``job-threads`` > 0) looks at the schedules in
its maintenance pass (``start_due``); a schedule whose period has come
is started in one short transaction that writes the schedule's record in
the store (``store.periodic``: its key -> ``ScheduleRecord``, the last
period started) read current, and adds the job as a process queued for
any instance (``registry.UNCLAIMED``, with a ``StoredRequest`` of a POST
to the view's URL, no form values, as that user): of two instances that
start the same period, one commits, the other's transaction conflicts,
and its retry reads the period started. Periods missed while every
instance was down are run once, not once each. A schedule whose
context, view or user does not exist is logged as an error once per
period and its record says so (the control panel shows it). A view
whose class names a ``queue`` (a text, not a method: there is no request
to compute it from) has its periodic jobs in that queue (queues.py).
Likewise its class's ``retry_on``, ``max_retries`` and ``may_retry``
values apply to its periodic jobs (``retries.keep_for_schedule``): a
failed one is retried automatically, and its page has the Retry button
(its request, the schedule's POST, is kept for that); one of them declared
as a method is none here, and a warning says so once.

``every`` schedules run at their first period seen; ``cron`` ones at
their next time after they are first seen (not at once when deployed).

A schedule whose context is in a Plone site that does not have the
add-on installed (uninstalled, or never installed), or whose context does
not exist while the database has no registry (a site deleted, or not made
yet), is not started and writes nothing (a warning says so once per
period): uninstalling a site removes its schedules' records with its
processes (``registry.remove_site``), and no pass brings the registry back.
"""

from Acquisition import aq_base
from Acquisition import aq_chain
from BTrees.OOBTree import OOBTree
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from persistent import Persistent

from netsight.asynchronous import queues
from netsight.asynchronous import registry
from netsight.asynchronous import retries
from netsight.asynchronous import storage
from netsight.asynchronous.cron import Cron
from netsight.asynchronous.identity import JobUser
from netsight.asynchronous.interfaces import INetsightAsyncLayer
from netsight.asynchronous.owners import plone_site
from netsight.asynchronous.owners import site_path
from netsight.asynchronous.stored import StoredRequest

import logging
import time


logger = logging.getLogger("netsight.async")


@dataclass(frozen=True)
class Schedule:
    """One ``<async:periodic>``: start ``view`` on ``context`` as ``user``, ``every`` seconds or at ``cron``."""

    view: str
    context: str  # the context's path, "/plone"
    user: str
    every: float | None = None
    cron: Cron | None = None

    @property
    def key(self):
        """The key of its record: what it starts, where, and when."""
        when = f"every {self.every:g}" if self.every is not None else f"cron {self.cron.expression}"
        return f"{self.context.rstrip('/')}/{self.view} ({when}, as {self.user})"

    def period(self, now):
        """The period that ``now`` (a time.time()) is in: a number that grows with each period."""
        if self.every is not None:
            return int(now // self.every)
        last = self.cron.last_at_or_before(datetime.fromtimestamp(now))
        return None if last is None else int(last.timestamp())

    def next_run(self, now):
        """When the next period begins (a time.time())."""
        if self.every is not None:
            return (int(now // self.every) + 1) * self.every
        return self.cron.next_after(datetime.fromtimestamp(now)).timestamp()


SCHEDULES = []  # the schedules registered (zcml.py), in their order


def register(schedule):
    """Add ``schedule`` (the ZCML directive's action)."""
    if schedule not in SCHEDULES:
        SCHEDULES.append(schedule)


def clear():
    """Forget every schedule (tests, and zope.testing's cleanUp)."""
    del SCHEDULES[:]
    _UNWRITTEN.clear()


try:
    from zope.testing.cleanup import addCleanUp
except ImportError:  # zope.testing is a test dependency
    pass
else:
    addCleanUp(clear)


class ScheduleRecord(Persistent):
    """What the database knows of one schedule: the last period started, and how."""

    period = None  # the last period started (or found broken): no instance starts it again
    started = None  # when it was last started (time.time())
    process_id = None  # the process it last started
    error = None  # why the last period could not start (its view, context or user is missing); None: it did
    error_period = None  # the period of that error
    site = None  # the path of its context's Plone site ("": none), whose uninstall removes it; None: made before 2.0


def records(root):
    """The schedules' records of ``root``: key -> ``ScheduleRecord`` (empty before any was written)."""
    store = registry.stored(root)
    tree = getattr(store, "periodic", None) if store is not None else None
    return {} if tree is None else tree


def start_due(db, now=None):
    """Start every schedule whose period has come and that no instance started; the process ids started.

    Each in a transaction of its own (one schedule's conflict does not hold
    back the others'); a failure is logged, and the next pass tries again.
    """
    now = time.time() if now is None else now
    started = []
    for schedule in list(SCHEDULES):
        period = schedule.period(now)
        if period is None:
            continue
        try:
            process_id = registry.in_own_transaction(db, lambda root, s=schedule: _start_in(root, s, period, now))
        except Exception:
            logger.exception("netsight.async: could not start the periodic job %s", schedule.key)
            continue
        if process_id:
            started.append(process_id)
    return started


def _start_in(root, schedule, period, now):
    """In the transaction of ``root``: start ``schedule``'s ``period`` if no
    instance did; its process id (None: started already, or broken)."""
    store = registry.stored(root)
    tree = getattr(store, "periodic", None) if store is not None else None
    record = tree.get(schedule.key) if tree is not None else None
    if record is not None:
        root._p_jar.readCurrent(record)  # another instance's start of this period: a conflict, and a retry
        if record.period is not None and record.period >= period:
            return None  # started (or found broken) already
    if _UNWRITTEN.get(schedule.key) == period:
        return None  # found this period to be written nowhere (below): looked at again at the next
    context = _context(root, schedule)
    unwritten = _why_unwritten(root, context)
    if unwritten is not None:  # nothing is written: the database keeps nothing of a site that does not use the add-on
        _UNWRITTEN[schedule.key] = period
        logger.warning("netsight.async: the periodic job %s is not started: %s", schedule.key, unwritten)
        return None
    _UNWRITTEN.pop(schedule.key, None)
    if record is None and schedule.cron is not None:
        # A cron schedule first seen: its first run is its next time, not now.
        _record(root, schedule, context).period = period
        return None
    record = _record(root, schedule, context) if record is None else record
    record.period = period
    problem = _problem(context, schedule)
    if problem is not None:
        record.error, record.error_period = problem, period
        logger.error("netsight.async: the periodic job %s cannot start: %s", schedule.key, problem)
        return None
    process_id = _queue(root, schedule, context, now)
    record.started, record.process_id, record.error, record.error_period = now, process_id, None, None
    logger.info("netsight.async: periodic job %s started as process %s", schedule.key, process_id)
    return process_id


_UNWRITTEN = {}  # schedule key -> the period found to be written nowhere (``_why_unwritten``), said once


def _context(root, schedule):
    """The schedule's context in the database of ``root``, or None (it does not exist)."""
    app = root.get("Application")
    return None if app is None else app.unrestrictedTraverse(schedule.context.strip("/"), None)


def _why_unwritten(root, context):
    """Why a schedule of ``context`` may write nothing in the database of ``root``, or None: its Plone site
    does not have the add-on's browser layer, or it does not exist and the database has no registry."""
    if context is None:
        return None if registry.exists(root) else "its context does not exist, and no site of the database uses the add-on"
    site = plone_site(context)
    if site is not None and INetsightAsyncLayer not in _site_layers(site):
        return "its site does not have the add-on installed"
    return None


def _record(root, schedule, context):
    """The schedule's record, made in the store (the store and its tree too, if need be)."""
    store = storage.made(root)
    if getattr(store, "periodic", None) is None:  # a store of before periodic jobs that registry.prepare did not see
        store.periodic = OOBTree()
    record = store.periodic.get(schedule.key)
    if record is None:
        record = store.periodic[schedule.key] = ScheduleRecord()
        record.site = "" if context is None else site_path(context)  # its site's uninstall removes it
    return record


def _problem(context, schedule):
    """Why ``schedule`` cannot start now (its context, user or view is missing), or None."""
    if context is None:
        return f"its context {schedule.context} does not exist"
    if _user_folder(context, schedule.user) is None:
        return f"its user {schedule.user!r} does not exist"
    if not _has_view(context, schedule.view):
        return f"its view {schedule.view!r} does not exist on {schedule.context}"
    return None


def _user_folder(context, user_id):
    """The path of the nearest user folder above ``context`` that knows ``user_id``, or None."""
    for item in aq_chain(context, True):
        if getattr(aq_base(item), "acl_users", None) is None:
            continue
        folder = item.acl_users
        if hasattr(folder, "getUserById") and folder.getUserById(user_id) is not None:
            return "/".join(folder.getPhysicalPath())
    return None


def _has_view(context, name):
    """Whether a browser view ``name`` is registered for ``context`` (on the default layer or an add-on's)."""
    return _view_factory(context, name) is not None


def _queue_of_view(context, name):
    """The queue of the view ``name`` (queues.py) where its class declares a name; None (the default queue)
    where it declares none, or a method (a periodic start has no request of the view's to compute it from).
    A value that is no short name is the integrator's error: its jobs go to the default queue, and it is
    logged (an error, once per view: the class is first looked up at its first periodic start)."""
    value = getattr(_view_factory(context, name), "queue", None)
    if value is None or callable(value):
        return None
    if not queues.is_name(value):
        if name not in _BAD_QUEUES:
            _BAD_QUEUES.add(name)
            logger.error(
                "netsight.async: periodic jobs of the view %r: its queue %r is no short name (letters, digits, _ . -); "
                "they go to the default queue", name, value,
            )
        return None
    return queues.of_name(value)


_BAD_QUEUES = set()  # the views whose queue was said to be no short name (``_queue_of_view``)


def _view_factory(context, name):
    """The factory of the browser view ``name`` registered for ``context``, or None."""
    from zope.component import getSiteManager
    from zope.interface import providedBy
    from zope.interface import Interface
    from zope.publisher.interfaces.browser import IDefaultBrowserLayer

    site = _site_of(context)
    manager = getSiteManager(site) if site is not None else getSiteManager()
    layers = [IDefaultBrowserLayer]
    try:
        from plone.browserlayer.utils import registered_layers

        layers += list(registered_layers()) if site is None else _site_layers(site)
    except ImportError:
        pass
    for layer in layers:
        factory = manager.adapters.lookup((providedBy(context), layer), Interface, name=name)
        if factory is not None:
            return factory
    return None


def _site_of(context):
    from zope.component.interfaces import ISite

    for item in aq_chain(context, True):
        if ISite.providedBy(item):
            return item
    return None


def _site_layers(site):
    from zope.component.hooks import setSite
    from zope.component.hooks import getSite

    before = getSite()
    setSite(site)
    try:
        from plone.browserlayer.utils import registered_layers

        return list(registered_layers())
    finally:
        setSite(before)


def _queue(root, schedule, context, now):
    """Add the schedule's job to the registry, queued for any instance; its process id."""
    app = root["Application"]
    context_path = "/".join(context.getPhysicalPath())
    process_id = registry.new_process_id()
    record = registry.ProcessRecord(
        process_id, view_name=schedule.view, context_path=context_path, owner=schedule.user, site=site_path(context)
    )
    factory = _view_factory(context, schedule.view)
    record.queue = _queue_of_view(context, schedule.view)  # for a worker of its queue
    if factory is not None:  # its class's retry settings: automatic retries, the Retry button (its request is kept)
        retries.keep_for_schedule(factory, record)
    user = JobUser(_user_folder(context, schedule.user), schedule.user)
    path = f"{context_path}/{schedule.view}"
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8080",
        "HTTP_HOST": "localhost:8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": "0",
        "REMOTE_ADDR": "127.0.0.1",
    }
    kept = StoredRequest(environ, user, (app._p_oid, "Zope", False))
    kept.keep_body(BytesIO(b""), root._p_jar)
    record.request = kept
    registry.add(root._p_jar, record, instance=registry.UNCLAIMED, ticket=None, title=None)
    return process_id
