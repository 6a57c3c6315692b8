"""The settings: a Plone site's registry, ``NETSIGHT_ASYNC_*``, zope.conf's ``<product-config netsight.async>``.

In zope.conf::

    <product-config netsight.async>
      job-threads 4
    </product-config>

The environment variable of a setting is its name in capitals with ``_``
for ``-`` (``NETSIGHT_ASYNC_JOB_THREADS=4``); it wins over zope.conf. A
setting that was renamed is still read under its old name
(``OLD_NAMES``: ``pool-size``, ``NETSIGHT_ASYNC_POOL_SIZE``) where its
new name is not given. A number setting whose value is not a number of
its kind (or not finite: ``nan``, ``inf``) is logged and the default
used; one of seconds past ``LONGEST`` (a century) is logged and a century
used; ``job-cookies`` and ``trusted-proxies`` are text (names or
addresses, space-separated). A default that follows another setting
(``anonymous-pool-size``, ``anonymous-queue-limit``) is a function of it.

In Plone, the settings of ``SITE_SETTINGS`` (how many jobs may wait, how
many of one user's may run at once, how long an ended process is kept,
how long a shown result stays to be seen again, how the pages poll, how
often a job's progress is written) are also records of the site's
registry (the control panel "Background processes",
``IBackgroundProcessesSettings``): read in a request of the site (a job's
request too), a record's value wins over the environment
and zope.conf; a record left empty (None) does not. A job keeps the
``max-per-user``, ``expiry`` and share of the job threads
(``site-job-threads``, a setting of the site only: its record keeps its
first name, ``netsight.async.pool_size``) that its site's registry gives
it at its start (if any; ``limits.StartSettings`` reads them once), so
that the pool and the housekeeping of the instance that runs or forgets
it, which know no site, apply them; without them, the instance's own
apply (``instance_value``). The others are per instance (its job threads,
its heartbeat, its claims) and are read where no site is known, in the
instance's own threads: the environment and zope.conf only.
"""

from App.config import getConfiguration
from zope.component import queryUtility

import logging
import math
import os


try:
    from plone.registry.interfaces import IRegistry
except ImportError:  # plain Zope
    IRegistry = None


logger = logging.getLogger("netsight.async")
#: The most a number setting of seconds (or the polls' growth) may be: a century. Every time a
#: setting makes (an expiry, a kept result's end) stays within what a page can show (``sitetime.LATEST``).
LONGEST = 100 * 365 * 86400.0

PRODUCT = "netsight.async"
ENVIRONMENT_PREFIX = "NETSIGHT_ASYNC_"

#: name: (default, type, minimum, what it is)
DEFAULTS = {
    "job-threads": (2, int, 0, "the threads that run jobs in this instance: jobs at once; more wait in a queue "
                    "(0: a front-end, which runs none; formerly pool-size)"),
    "max-per-user": (0, int, 0, "jobs of one owner that run at once in this instance (0: no cap)"),
    "queue-limit": (20, int, 0, "jobs that may wait to start (in this instance, or unclaimed in the database "
                    "in the job's own queue for a front-end) before a start is refused with 503 (0: no limit)"),
    "max-per-address": (2, int, 0, "anonymous jobs (queued or running, in the whole cluster) of one client "
                        "address; a start beyond is refused with 503 (0: no cap)"),
    "trusted-proxies": ("", str, None, "the addresses of the proxies whose X-Forwarded-For names the client "
                        "(space-separated); any other peer is the client"),
    "anonymous-pool-size": (lambda: max(1, instance_value("job-threads") // 2), int, 0,
                            "anonymous jobs that run at once in this instance, all visitors together "
                            "(default: half of job-threads, at least 1; 0: no share of their own)"),
    "anonymous-queue-limit": (lambda: max(1, limit // 2) if (limit := get("queue-limit")) else 10, int, 0,
                              "anonymous jobs that may wait to start, all visitors together, before an anonymous "
                              "start is refused with 503 (default: half of queue-limit, at least 1, and 10 where "
                              "queue-limit is 0; 0: no limit)"),
    "anonymous-expiry": (3600.0, float, 60.0, "seconds an anonymous visitor's ended process is kept if nobody "
                         "fetches it (at most the expiry)"),
    "heartbeat-interval": (10.0, float, 0.1, "seconds between heartbeats while the instance has jobs"),
    "heartbeat-timeout": (60.0, float, 0.5, "seconds without a heartbeat after which its jobs read interrupted"),
    "housekeeping-interval": (300.0, float, 0.1, "seconds between housekeeping passes"),
    "expiry": (86400.0, float, 0.0, "seconds an ended process is kept if nobody fetches it"),
    "keep-result": (0.0, float, 0.0, "seconds a result stays after it was first shown, for its owner to see again "
                    "(at most until the expiry; 0: shown once, as in 1.x); a view's keep_result wins"),
    "progress-interval": (1.0, float, 0.0, "seconds between two progress writes of a job (0: write each)"),
    "claim-interval": (1.0, float, 0.05, "seconds between two timed claims of jobs queued elsewhere "
                       "(a safety net: an instance with room claims one as soon as it is queued)"),
    "cancel-interval": (0.25, float, 0.05, "seconds between two looks of an instance running jobs for cancels asked elsewhere"),
    "queues": ("", str, None, "the queues whose jobs this instance runs (names, space-separated; default: the "
               "default queue; name:N: at most N of that queue's jobs at once); empty: every queue; no word valid: "
               "none (queues.py)"),
    "job-cookies": ("I18N_LANGUAGE", str, None, "the cookies a job's request keeps (names, space-separated)"),
    "poll-start": (0.25, float, 0.1, "seconds from the processing page's load to its first poll"),
    "poll-growth": (1.5, float, 1.0, "each wait between two polls is the last one times this"),
    "poll-interval": (5, float, 1.0, "the longest wait between two polls; the page's reload without JavaScript"),
}

#: The settings a Plone site's registry may set: records ``netsight.async.<name with _>``.
SITE_SETTINGS = frozenset(
    {
        "queue-limit",
        "max-per-user",
        "expiry",
        "keep-result",
        "progress-interval",
        "poll-start",
        "poll-growth",
        "poll-interval",
    }
)
REGISTRY_PREFIX = "netsight.async."

#: A site's share of an instance's job threads: a setting of the site's
#: registry only, whose record keeps the name it was given first.
SITE_JOB_THREADS = "site-job-threads"
#: The records whose name is not the setting's (``netsight.async.<record>``).
RECORDS = {SITE_JOB_THREADS: "pool_size"}

#: Renamed settings: new name -> old name, still read (zope.conf and the
#: environment) where the new one is not given.
OLD_NAMES = {"job-threads": "pool-size"}
NEW_NAMES = {old: new for new, old in OLD_NAMES.items()}


def get(name):
    """The value of setting ``name`` (or of its new name, if it was renamed):
    the current site's, if it sets one, else the instance's."""
    name = NEW_NAMES.get(name, name)
    return _value(name, site_value(name) if name in SITE_SETTINGS else None)


def instance_value(name):
    """The value of setting ``name`` (or of its new name, if it was renamed)
    for this instance (zope.conf, environment), whatever a site sets."""
    return _value(NEW_NAMES.get(name, name), None)


def _value(name, raw):
    default, kind, minimum, _doc = DEFAULTS[name]
    if callable(default):  # a default that follows another setting
        default = default()
    if raw is None:
        raw = _given(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError, OverflowError):
        _refused(name, raw, f"is not a {kind.__name__}; using {default!r}")
        return default
    if isinstance(value, float) and not math.isfinite(value):  # "nan" and "inf" are floats: no setting is either
        _refused(name, raw, f"is not a finite number; using {default!r}")
        return default
    if isinstance(value, float) and value > LONGEST:
        _refused(name, raw, f"is above a century of seconds; using {LONGEST!r}")
        return LONGEST
    if minimum is not None and value < minimum:
        _refused(name, raw, f"is below {minimum!r}; using {minimum!r}")
        return minimum
    return value


def _refused(name, raw, why):
    """Log that setting ``name`` cannot be ``raw`` (``why``), once for each value (``warn_once``)."""
    warn_once((name, repr(raw)), "netsight.async: %s = %r %s", name, raw, why)


def warn_once(key, message, *args):
    """Log the warning ``message % args`` once for each ``key``: a setting is read at every request
    and every pass of the maintenance thread, and a wrong one would be said at each."""
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning(message, *args)


_WARNED = set()  # the keys of the warnings said (``warn_once``)


def _given(name):
    """The value this instance gives ``name``, as text, or None: its environment
    variable, else zope.conf's; the new name first, then its old one (``OLD_NAMES``)."""
    names = (name, OLD_NAMES[name]) if name in OLD_NAMES else (name,)
    for given in names:
        raw = os.environ.get(ENVIRONMENT_PREFIX + given.upper().replace("-", "_"))
        if raw is not None:
            return raw
    config = _product_config()
    for given in names:
        raw = config.get(given)
        if raw is not None:
            return raw
    return None


def site_value(name):
    """The value the current site's registry gives setting ``name``, or None.

    The registry is the site's local utility: found in a request of a Plone
    site (the site hook is set), not in a thread without a site, nor in
    plain Zope. Nothing is cached: a value saved is read by the next request.
    """
    if IRegistry is None:
        return None
    site_registry = queryUtility(IRegistry)
    if site_registry is None:
        return None
    return site_registry.get(REGISTRY_PREFIX + RECORDS.get(name, name.replace("-", "_")))


def _product_config():
    config = getattr(getConfiguration(), "product_config", None) or {}
    return config.get(PRODUCT) or {}
