"""The ZCML directive ``<async:periodic>``: a view started on a schedule (``periodic.py``).

Loaded by ``meta.zcml`` in the namespace ``http://namespaces.plone.org/netsight.async``::

  <configure xmlns:async="http://namespaces.plone.org/netsight.async">
    <async:periodic view="export" context="/plone" every="3600" user="admin" />
    <async:periodic view="report" context="/plone" cron="0 3 * * *" user="admin" />
  </configure>

Exactly one of ``every`` (seconds, more than 0) and ``cron`` (five fields,
``cron.py``) is given; a wrong one fails the configuration, as Zope starts.
"""

from zope.configuration.exceptions import ConfigurationError
from zope.interface import Interface
from zope.schema import ASCIILine
from zope.schema import Float
from zope.schema import TextLine

from netsight.asynchronous import periodic
from netsight.asynchronous.cron import Cron
from netsight.asynchronous.cron import CronError


class IPeriodicDirective(Interface):
    """``<async:periodic>``: start ``view`` on ``context`` as ``user``, ``every`` seconds or at ``cron``."""

    view = ASCIILine(title="The view's name", required=True)
    context = TextLine(title="The path of its context, from the Zope root (/plone)", required=True)
    user = TextLine(title="The id of the user it runs as", required=True)
    every = Float(title="Seconds between two starts", required=False)
    cron = TextLine(title="When it starts, as a cron expression of five fields", required=False)


def periodic_directive(_context, view, context, user, every=None, cron=None):
    if (every is None) == (cron is None):
        raise ConfigurationError("async:periodic takes one of every and cron")
    if every is not None and every <= 0:
        raise ConfigurationError(f"async:periodic: every must be more than 0 seconds, not {every}")
    try:
        parsed = Cron(cron) if cron is not None else None
    except CronError as exc:
        raise ConfigurationError(f"async:periodic: {exc}") from exc
    schedule = periodic.Schedule(view=view, context="/" + context.strip("/"), user=user, every=every, cron=parsed)
    _context.action(discriminator=("netsight.async:periodic", schedule.key), callable=periodic.register, args=(schedule,))
