"""The settings: zope.conf's ``<product-config netsight.async>``, then ``NETSIGHT_ASYNC_*``.

In zope.conf::

    <product-config netsight.async>
      pool-size 4
    </product-config>

The environment variable of a setting is its name in capitals with ``_``
for ``-`` (``NETSIGHT_ASYNC_POOL_SIZE=4``); it wins over zope.conf. A
number setting whose value is not a number of its kind is logged and the
default used; ``job-cookies`` is text (names, space-separated).
"""

from App.config import getConfiguration

import logging
import os


logger = logging.getLogger("netsight.async")

PRODUCT = "netsight.async"
ENVIRONMENT_PREFIX = "NETSIGHT_ASYNC_"

#: name: (default, type, minimum, what it is)
DEFAULTS = {
    "pool-size": (2, int, 0, "jobs that run at once in this instance; more wait in a queue"),
    "max-per-user": (0, int, 0, "jobs of one owner that run at once in this instance (0: no cap)"),
    "heartbeat-interval": (10.0, float, 0.1, "seconds between heartbeats while the instance has jobs"),
    "heartbeat-timeout": (60.0, float, 0.5, "seconds without a heartbeat after which its jobs read interrupted"),
    "housekeeping-interval": (300.0, float, 0.1, "seconds between housekeeping passes"),
    "expiry": (86400.0, float, 0.0, "seconds an ended process is kept if nobody fetches it"),
    "progress-interval": (1.0, float, 0.0, "seconds between two progress writes of a job (0: write each)"),
    "claim-interval": (1.0, float, 0.05, "seconds between two looks of an instance with room for jobs queued elsewhere"),
    "job-cookies": ("I18N_LANGUAGE", str, None, "the cookies a job's request keeps (names, space-separated)"),
}


def get(name):
    """The value of setting ``name``."""
    default, kind, minimum, _doc = DEFAULTS[name]
    raw = os.environ.get(ENVIRONMENT_PREFIX + name.upper().replace("-", "_"))
    if raw is None:
        raw = _product_config().get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        logger.warning("netsight.async: %s = %r is not a %s; using %r", name, raw, kind.__name__, default)
        return default
    if minimum is not None and value < minimum:
        logger.warning("netsight.async: %s = %r is below %r; using %r", name, raw, minimum, minimum)
        return minimum
    return value


def _product_config():
    config = getattr(getConfiguration(), "product_config", None) or {}
    return config.get(PRODUCT) or {}
