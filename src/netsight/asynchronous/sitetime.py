"""The times the pages show: in the site's time zone (Plone's ``plone.portal_timezone``), else in the server's.

Plone keeps one time zone for a site (Site Setup, Date and Time); outside
a Plone site (the Zope root), or where it names none or an unknown zone,
the server's local time applies, as before. The zone is looked up in the
registry of the current component site, so the answer depends on the
request that reads it (a page of that site); a job's thread has none.
"""

from datetime import datetime
from datetime import timezone
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError
from zope.component import queryUtility

import logging


try:
    from plone.registry.interfaces import IRegistry
except ImportError:  # plain Zope: the server's time
    IRegistry = None


logger = logging.getLogger("netsight.async")
SETTING = "plone.portal_timezone"
_WARNED = set()  # the unknown zone names logged: once each, not at every time of every row
#: The latest time a page shows (the first of the year 9000): past the year 9999 in some time zone, no datetime can hold a time.
LATEST_YEAR = 9000
LATEST = datetime(LATEST_YEAR, 1, 1, tzinfo=timezone.utc).timestamp()


def zone():
    """The site's time zone (a ``ZoneInfo``), or None: the server's local time."""
    registry = queryUtility(IRegistry) if IRegistry is not None else None
    name = registry.get(SETTING) if registry is not None else None
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name not in _WARNED:
            _WARNED.add(name)
            logger.warning("netsight.async: the site's time zone %r is unknown: times are shown in the server's", name)
        return None


def at(timestamp, tz=None):
    """``timestamp`` (a ``time.time()``) as an aware datetime in ``tz``, by default the site's zone (else the server's).

    A time past ``LATEST`` (a record kept by a setting of millennia, saved
    before settings had a maximum) reads as ``LATEST``, where no datetime could hold it.
    """
    timestamp = min(timestamp, LATEST)
    tz = tz or zone()
    return datetime.fromtimestamp(timestamp, tz) if tz is not None else datetime.fromtimestamp(timestamp).astimezone()


def iso(timestamp, timespec="seconds"):
    """``timestamp`` as ISO 8601 with the offset of the site's zone ("2026-12-05T14:00:00+01:00"); None for None."""
    return None if timestamp is None else at(timestamp).isoformat(timespec=timespec)
