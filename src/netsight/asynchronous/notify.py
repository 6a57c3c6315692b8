"""The owner told by mail that a job is done: once, through the site's MailHost, if nobody watched its end.

A view that sets ``notify = "mail"`` asks for it. At the start (``wanted``)
the record keeps what the mail needs and nothing of the job: the result
page's URL as the starting request saw it (virtual hosting included) and
the language it was answered in. When the job is done (``after_end``, in
the worker's thread, once the end committed), the owner gets a mail unless
a browser of this instance was watching (``watching.watched``): the job's
name and the link to its result, never anything of the result itself. Only
a member of the Plone site with an e-mail address gets one; an anonymous
visitor, a user of the Zope root or a member without an address none.

Once: the mail is sent in a transaction of the thread's own transaction
manager (the one the MailHost joins: zope.sendmail sends on its commit)
that also marks the record ``mailed``; a ConflictError aborts both, and
the retry finds the mark or sends again, once; a second call (a retried
end) finds the mark. A site without ``email_from_address`` sends nothing
(a warning in the log).
"""

from email.message import EmailMessage
from email.utils import formataddr
from transaction.interfaces import TransientError
from zope.component.hooks import site as site_hook
from zope.i18n import translate

from netsight.asynchronous import registry
from netsight.asynchronous import watching
from netsight.asynchronous.i18n import _

import logging
import random
import time
import transaction


logger = logging.getLogger("netsight.async")

MAIL = "mail"  # BaseAsyncView.notify: the owner is mailed when the job is done
ATTEMPTS = 5  # of the mail's transaction, on ConflictErrors


def wanted(view, process_id, user_id):
    """What the record keeps for the mail, if ``view`` asks for one and a user starts it; else None."""
    if getattr(view, "notify", None) != MAIL or user_id is None:
        return None
    language = view.request.get("LANGUAGE")
    return {
        "url": view.status_url("result", process_id),
        "language": language if isinstance(language, str) and language else None,
    }


def after_end(db, process_id):
    """The job of ``process_id`` ended here: mail its owner if it asked for it and nobody watched.

    Never raises: a mail that cannot be sent is logged, and the job stays done.
    """
    try:
        if watching.watched(process_id):
            return False
        return mail_once(db, process_id)
    except Exception:
        logger.exception("Process %s: could not mail its owner", process_id)
        return False
    finally:
        watching.forget(process_id)


def mail_once(db, process_id):
    """Mail the owner of the done process ``process_id`` that its result is
    ready, unless it was mailed already; returns whether it mailed now.

    One transaction of this thread's transaction manager (MailHost sends on
    its commit) marks the record and sends, retried on ConflictErrors.
    """
    manager = transaction.manager
    for attempt in range(1, ATTEMPTS + 1):
        manager.begin()
        connection = db.open()  # this thread's transaction manager, the MailHost's
        try:
            sent = _mail_in(connection.root(), process_id)
            manager.commit()
            return sent
        except TransientError:
            manager.abort()
            if attempt == ATTEMPTS:
                raise
            logger.debug("Process %s: a conflict while mailing its owner, retrying", process_id)
        except BaseException:
            manager.abort()
            raise
        finally:
            connection.close()
        time.sleep(random.uniform(0, min(1.0, registry.BACKOFF * 2**attempt)))


def _mail_in(root, process_id):
    """Mark and send, in the transaction of ``root``; whether a mail went."""
    record = registry.find(root._p_jar, process_id)
    wish = getattr(record, "mail", None)
    if record is None or not result_waits(record) or not wish or getattr(record, "mailed", False):
        return False
    site = _site(root, record.site)
    if site is None or record.owner is None:
        return False
    with site_hook(site):
        return _send(site, record, wish)


def _site(root, path):
    """The Plone site at ``path`` (a record's ``site``), from the application root; None if gone."""
    app = root.get("Application")
    if app is None or not path:
        return None
    found = app.unrestrictedTraverse(path.split("/")[1:], None)
    return found if found is not None and hasattr(found, "portal_membership") else None


def _send(site, record, wish):
    member = site.portal_membership.getMemberById(record.owner)
    address = member.getProperty("email", "") if member is not None else ""
    if not address:
        return False
    settings = site.portal_registry
    sender = settings.get("plone.email_from_address")
    if not sender:
        logger.warning(
            "Process %s: its owner asked for a mail, but the site %s has no e-mail sender address "
            "(Site Setup, Mail): none sent",
            record.process_id,
            record.site,
        )
        return False
    language = wish.get("language") or settings.get("plone.default_language")
    job = job_name(record, language)
    site_title = settings.get("plone.site_title") or site.getId()
    message = EmailMessage()
    message["Subject"] = translate(
        _("mail_ready_subject", default="Ready: ${job}", mapping={"job": job}), target_language=language
    )
    message["From"] = formataddr((settings.get("plone.email_from_name") or site_title, sender))
    message["To"] = address
    message.set_content(
        translate(
            _(
                "mail_ready_body",
                default="“${job}”, which you started on ${site}, is done. Its result waits for you:\n\n${url}",
                mapping={"job": job, "site": site_title, "url": wish["url"]},
            ),
            target_language=language,
        )
    )
    record.mailed = True  # in the transaction that sends: both or neither
    site.MailHost.send(message, mto=address, mfrom=sender, immediate=False, charset="utf-8")
    return True


def result_waits(record):
    """Whether a process is done and its result was never shown (a shown one's
    record may stay: ``taken`` notes when; before that, ``take`` removed it)."""
    return record.state == registry.DONE and getattr(record, "taken", None) is None


def job_name(record, language=None, request=None):
    """What the notices call a job: its title (translated) if its view gave one, else the view's name."""
    title = getattr(record, "title", None)
    if not title:
        return record.view_name
    return translate(title, target_language=language, context=request)
