"""The control panel "Background processes": a Plone site's settings of netsight.async, in its registry.

It edits ``IBackgroundProcessesSettings`` (the queue limit, the cap of
one user's jobs, the site's jobs at once, the expiry, how long a shown
result is kept for its owner, how the processing pages poll, how often a
job's progress is written) and shows, read only, the settings
of the instance that answers, from its zope.conf or environment: those of
the site's fields left empty, and those that stay the instance's alone
(a renamed one with its old name, still read). It also says when the
maintenance of each instance sharing the database last failed, and how
often (``faults.py``: from the instances' heartbeat records, a read),
lists the queues that the live instances serve (``queues.py``: their
heartbeat records say which) and those that waiting jobs ask for and no
live instance serves, and lists the periodic jobs registered on the instance that answers
(``periodic.py``): when each last ran, when it runs next, and why its
last period could not start, if it could not.
Managers and Site Administrators open it: its permission is the add-on's
own, "netsight.async: Manage processes" (ZCML and Site Setup's entry).
"""

from datetime import datetime
from datetime import timezone
from netsight.asynchronous import faults
from netsight.asynchronous import periodic
from netsight.asynchronous import queues
from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous.connections import app_connection
from netsight.asynchronous.i18n import _
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.interfaces import IBackgroundProcessesSettings
from plone.app.registry.browser.controlpanel import ControlPanelFormWrapper
from plone.app.registry.browser.controlpanel import RegistryEditForm
from plone.z3cform import layout
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile

import time


class BackgroundProcessesForm(RegistryEditForm):
    schema = IBackgroundProcessesSettings
    schema_prefix = "netsight.async"
    label = _("Background processes")  # the msgid of its Site Setup entry (controlpanel.xml)
    description = _(
        "controlpanel_description",
        default="How many jobs may wait, how many of one user's and of this site's run at once, how long an "
        "ended process is kept, how this site's processing pages poll and how often a job's progress is written. "
        "A value left empty is the instance's setting (zope.conf or environment).",
    )


class BackgroundProcessesControlPanel(ControlPanelFormWrapper):
    index = ViewPageTemplateFile("templates/controlpanel.pt")

    def instance_settings(self):
        """``(name, value, what it is, its old name or None)`` of each setting, as this
        instance reads it (the site's fields left empty take these)."""
        return [
            (name, settings.instance_value(name), doc, settings.OLD_NAMES.get(name))
            for name, (_default, _kind, _minimum, doc) in settings.DEFAULTS.items()
        ]

    def maintenance_errors(self):
        """The instances sharing the database whose maintenance failed, the latest first:
        ``{"instance", "count", "last" (UTC, ISO 8601 to the second), "what"}`` each."""
        root = app_connection(self.request, self.context).root()
        return [
            {"instance": iid, "count": count, "last": _utc(when), "what": what}
            for iid, count, when, what in faults.of_instances(registry.instances(root))
        ]

    def queue_workers(self):
        """The live instances and the queues each serves (from their heartbeat records, a read), and the
        instance that answers, always (an idle instance of every queue writes no heartbeat): ``{"instance",
        "queues", "this"}`` each, ``queues`` a list of names, None for every queue, [] for none."""
        root = app_connection(self.request, self.context).root()
        live = dict(registry.served_queues(root, settings.get("heartbeat-timeout")))
        here = instance_id()
        if here not in live:  # what its settings say: the queues it serves, none without job threads
            live[here] = queues.served() if settings.get("job-threads") > 0 else ()
        return [
            {"instance": iid, "queues": None if names is None else list(names), "this": iid == here}
            for iid, names in sorted(live.items())
        ]

    def unserved_queues(self):
        """The queues that waiting jobs ask for and no live instance serves: ``{"queue", "waiting"}`` each."""
        root = app_connection(self.request, self.context).root()
        timeout = settings.get("heartbeat-timeout")
        waiting = registry.waiting_queues(root)
        return [
            {"queue": name, "waiting": count}
            for name, count in sorted(waiting.items())
            if not registry.serving(root, queues.of_name(name), timeout)
        ]

    def periodic_jobs(self):
        """The periodic jobs registered here: ``{"view", "context", "every", "cron",
        "user", "last", "next", "problem"}`` each (times in UTC; ``problem``: why
        its last period could not start, or "")."""
        root = app_connection(self.request, self.context).root()
        records, now = periodic.records(root), time.time()
        shown = []
        for schedule in periodic.SCHEDULES:
            record = records.get(schedule.key)
            shown.append(
                {
                    "view": schedule.view,
                    "context": schedule.context,
                    "every": f"{schedule.every:g}" if schedule.every is not None else "",
                    "cron": schedule.cron.expression if schedule.cron is not None else "",
                    "user": schedule.user,
                    "last": _utc(record.started) if record is not None and record.started else "",
                    "next": _utc(schedule.next_run(now)),
                    "problem": (record.error or "") if record is not None else "",
                }
            )
        return shown


def _utc(when):
    return "" if when is None else datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


BackgroundProcessesView = layout.wrap_form(BackgroundProcessesForm, BackgroundProcessesControlPanel)
