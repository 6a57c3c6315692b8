"""The owner told by mail that a job is done and its result still waits: at most once, by the maintenance thread.

A view that sets ``notify = "mail"`` asks for it. At the start (``wanted``)
the record keeps what the mail needs and nothing of the job: the result
page's absolute URL as the starting request saw it (virtual hosting
included) and the language it was answered in. The job's end, in the
transaction that marks it done, notes the process as owed a mail
(``expect``: ``PENDING_KEY``, process id -> end time).

The maintenance thread of every instance (``instance.Maintenance``) runs
``mail_pass`` every ``PASS_INTERVAL`` seconds. It applies the rule that
the notices on the owner's next page apply too (``ended_unseen``): a
process is owed a mail once it is done, its result was never shown, and
it ended more than ``grace()`` ago (``GRACE_POLLS`` times the longest poll
interval: a tab that watched the job has fetched the result by then, and
then no mail goes). It does not matter who polled, nor on which instance
of a cluster. Only a member of the Plone site with an e-mail address gets
a mail, on a site with a sender address (``email_from_address``; else a
warning in the log); an anonymous visitor, a user of the Zope root or a
member without an address gets none. The mail names the job and links to
its result, never anything of the result itself.

At most once: the ``mailed`` mark (and the end of the process's entry) is
committed first, in a short transaction of its own (a ConflictError
retries it, and the retry reads the mark again); the mail is then sent at
once through the site's MailHost (``immediate``), in no transaction, so
that no commit waits on the SMTP server. A mail the SMTP server refuses is
logged as an error and not sent again.
"""

from email.message import EmailMessage
from email.utils import formataddr
from transaction.interfaces import TransientError
from zope.component.hooks import site as site_hook
from zope.i18n import translate

from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous.i18n import _

import logging
import random
import time
import transaction


logger = logging.getLogger("netsight.async")

MAIL = "mail"  # BaseAsyncView.notify: the owner is mailed when the job is done
PENDING_KEY = "mail_pending"  # the store's tree (storage.py): process id -> end time, the mails not decided yet
GRACE_POLLS = 2  # a done process is noticed (and mailed) this many longest poll intervals after its end
PASS_INTERVAL = 5.0  # seconds between two mail passes of the maintenance thread
ATTEMPTS = 5  # of the mark's transaction, on ConflictErrors


def wanted(view, process_id, user_id):
    """What the record keeps for the mail, if ``view`` asks for one and a user starts it; else None."""
    if getattr(view, "notify", None) != MAIL or user_id is None:
        return None
    language = view.request.get("LANGUAGE")
    return {
        "url": view.status_url("result", process_id),
        "language": language if isinstance(language, str) and language else None,
    }


def grace():
    """Seconds after a job's end within which a tab that watched it shows its result (the current site's)."""
    return GRACE_POLLS * settings.get("poll-interval")


def ended_unseen(record, before):
    """The owner is told (notice, mail): done, its result never shown, ended before ``before`` (a time)."""
    return record.result_waits() and record.finished is not None and record.finished <= before


def expect(record):
    """In the transaction of a process's end: note it for the mail pass, if its view asked for a mail."""
    if getattr(record, "mail", None) and not getattr(record, "mailed", False):
        registry.index(record._p_jar.root(), PENDING_KEY)[record.process_id] = record.finished
    return True


def mail_pass(db):
    """The maintenance thread's step: mail the owners of the noted processes
    that are owed one now, and forget those that never will be. Never raises."""
    try:
        process_ids = _pending(db)
    except Exception:  # a closed database (tests, scripts), a lost ZEO server: the next pass
        logger.debug("netsight.async: the mail pass could not read its list", exc_info=True)
        return
    for process_id in process_ids:
        try:
            mail_once(db, process_id)
        except Exception:
            logger.exception("Process %s: could not mail its owner", process_id)


def _pending(db):
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        manager.begin()
        pending = registry.index(connection.root(), PENDING_KEY)
        return [] if pending is None else list(pending.keys())
    finally:
        manager.abort()
        connection.close()


def mail_once(db, process_id):
    """Mail the owner of ``process_id`` if it is owed a mail now; whether a mail went.

    The ``mailed`` mark is committed first, in a transaction of this
    thread's transaction manager (retried on ConflictErrors, each retry
    reading the mark again); the mail goes after that commit, through the
    site's MailHost at once: at most once. A failure to send is logged.
    """
    manager = transaction.manager
    connection = db.open()  # this thread's transaction manager
    try:
        for attempt in range(1, ATTEMPTS + 1):
            manager.begin()
            try:
                letter = _mark(connection.root(), process_id)
                manager.commit()
                break
            except TransientError:
                manager.abort()
                if attempt == ATTEMPTS:
                    raise
                logger.debug("Process %s: a conflict while marking its mail, retrying", process_id)
            except BaseException:
                manager.abort()
                raise
            time.sleep(random.uniform(0, min(1.0, registry.BACKOFF * 2**attempt)))
        if letter is None:
            return False
        site, message, address, sender = letter
        try:
            with site_hook(site):  # Plone's mailer reads the SMTP settings from the site's registry
                site.MailHost.send(message, mto=address, mfrom=sender, immediate=True, charset="utf-8")
        except Exception as exc:
            logger.error(
                "Process %s: the mail to its owner (%s) could not be sent, and is not sent again: %s: %s",
                process_id,
                address,
                type(exc).__name__,
                exc,
            )
            return False
        return True
    finally:
        manager.abort()
        connection.close()


def _mark(root, process_id):
    """Decide, in the transaction of ``root``: (site, message, address, sender)
    with the record marked ``mailed``, or None (not now, or never: then the
    process's entry goes)."""
    pending = registry.index(root, PENDING_KEY)
    if pending is None or process_id not in pending:
        return None  # decided already (another pass, another instance)
    record = registry.find(root._p_jar, process_id)
    if (
        record is None
        or not getattr(record, "mail", None)
        or getattr(record, "mailed", False)
        or record.owner is None
        or not record.result_waits()
    ):
        del pending[process_id]  # gone, shown, or mailed: never
        return None
    site = _site(root, record.site)
    if site is None:
        del pending[process_id]
        return None
    with site_hook(site):
        if not ended_unseen(record, time.time() - grace()):
            return None  # within the grace: a watching tab may show it yet
        del pending[process_id]
        letter = _letter(site, record)
    if letter is not None:
        record.mailed = True
    return letter


def _site(root, path):
    """The Plone site at ``path`` (a record's ``site``), from the application root; None if gone."""
    app = root.get("Application")
    if app is None or not path:
        return None
    found = app.unrestrictedTraverse(path.split("/")[1:], None)
    return found if found is not None and hasattr(found, "portal_membership") else None


def _letter(site, record):
    """(site, message, address, sender) for the owner of ``record``; None without an address or a sender."""
    member = site.portal_membership.getMemberById(record.owner)
    address = member.getProperty("email", "") if member is not None else ""
    if not address:
        return None
    registry_ = site.portal_registry
    sender = registry_.get("plone.email_from_address")
    if not sender:
        logger.warning(
            "Process %s: its owner asked for a mail, but the site %s has no e-mail sender address "
            "(Site Setup, Mail): none sent",
            record.process_id,
            record.site,
        )
        return None
    wish = record.mail
    language = wish.get("language") or registry_.get("plone.default_language")
    job = job_name(record, language)
    site_title = registry_.get("plone.site_title") or site.getId()
    message = EmailMessage()
    message["Subject"] = translate(
        _("mail_ready_subject", default="Ready: ${job}", mapping={"job": job}), target_language=language
    )
    message["From"] = formataddr((registry_.get("plone.email_from_name") or site_title, sender))
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
    return site, message, address, sender


def job_name(record, language=None, request=None):
    """What the notices call a job: its title (translated) if its view gave one, else the view's name."""
    title = getattr(record, "title", None)
    if not title:
        return record.view_name
    return translate(title, target_language=language, context=request)
