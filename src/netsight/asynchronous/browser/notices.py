"""The notice on the owner's next page that a job is done: Plone's status-message look; it only reads.

A user whose job ended while they were elsewhere (its tab closed) learns it
on their next page of the site: "“Export” is ready — see the result", with
the link to the result. The rule needs no knowledge of who watched: the
notice names the user's processes of this site that are done, whose result
was never shown (``ProcessRecord.result_waits``; a result shown and gone
takes its record out of the owners' index) and that ended more than twice
the longest poll interval ago (``notify.grace()``, the rule the mail to
the owner follows too): a tab that watched the job has fetched the result
by then. A process's notice ends when its result is shown, or expires.

It costs a descent of the owners' index per process read, newest first,
of the user's processes of the site started within the expiry, at most
``LOOK`` of them (``Processes.newest_owned``), nothing for Anonymous (anonymous owners get the
browser's notification only), and nothing on the add-on's own pages (the
processing page, My processes) nor in a job's own request (its result page
is kept, and would carry a notice of another job). It never writes.
"""

from AccessControl import getSecurityManager
from plone.app.layout.viewlets.common import ViewletBase
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile

from netsight.asynchronous import owners
from netsight.asynchronous import settings
from netsight.asynchronous.interfaces import IOwnPage
from netsight.asynchronous.notify import ended_unseen
from netsight.asynchronous.notify import grace
from netsight.asynchronous.notify import job_name
from netsight.asynchronous.processes import Processes
from netsight.asynchronous.worker import ATTEMPT_KEY

import time


LOOK = 20  # the user's newest processes (of the site, within the expiry) read for notices
SHOWN = 3  # notices on one page at most, newest first


class ReadyNotices(ViewletBase):
    """``netsight.async.notices`` in ``plone.globalstatusmessage``: the user's results that wait."""

    index = ViewPageTemplateFile("templates/notices.pt")

    def update(self):  # not ViewletBase's: nothing but the notices is needed
        self.notices = ready(self.context, self.request, self.view)

    def render(self):
        return self.index() if self.notices else ""


def ready(context, request, view=None):
    """What the notices say (dicts: ``job``, ``url``), newest first; [] where none is shown."""
    if IOwnPage.providedBy(view) or ATTEMPT_KEY in request.environ:
        return []
    user_id = getSecurityManager().getUser().getId()
    if user_id is None:
        return []
    processes = Processes(request)
    now, site = time.time(), owners.site_path(context)
    owned = processes.newest_owned(site, user_id, now - settings.get("expiry"))
    ended_before = now - grace()
    notices = []
    for _look, record in zip(range(LOOK), owned):
        if not ended_unseen(record, ended_before) or processes.expired(record):
            continue
        context_url = request.physicalPathToURL(record.context_path)
        notices.append(
            {
                "job": job_name(record, request=request),
                "url": f"{context_url}/@@{record.view_name}/result?process_id={record.process_id}",
            }
        )
        if len(notices) == SHOWN:
            break
    return notices
