"""The mail to the owner of a job that ended unwatched (``notify = "mail"``): once, with the link, nothing of the result."""

from plone.app.testing import MOCK_MAILHOST_FIXTURE
from plone.app.testing import TEST_USER_ID
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

from netsight.asynchronous import notify
from netsight.asynchronous import registry
from netsight.asynchronous.testing import JobsFunctionalTesting
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FIXTURE
from netsight.asynchronous.tests.base import idle_pool
from netsight.asynchronous.tests.base import JobBrowser
from netsight.asynchronous.tests.base import JobTestCase
from netsight.asynchronous.tests.base import wait_until
from netsight.asynchronous.tests.views import GATES
from netsight.asynchronous.tests.views import new_gate

import email
import transaction
import uuid


# plone.app.testing's MockMailHost: the site's MailHost keeps each message
# it is given in a persistent list, committed (or not) with the transaction.
MAIL_TESTING = JobsFunctionalTesting(bases=(NETSIGHT_ASYNC_FIXTURE, MOCK_MAILHOST_FIXTURE), name="NetsightAsync:Mail")
ADDRESS = "member@example.com"


class ConcurrentChange:
    """A synchronizer of this thread's transactions: before the first commit it
    sees, another connection commits a change to the process's record, so that
    the commit meets a real ConflictError."""

    def __init__(self, db, process_id):
        self.db, self.process_id = db, process_id
        self.commits = 0

    def beforeCompletion(self, txn):
        self.commits += 1
        if self.commits == 1:
            registry.change(self.db, self.process_id, lambda record: setattr(record, "message", "changed meanwhile"))

    def afterCompletion(self, txn):
        pass

    def newTransaction(self, txn):
        pass


class TestMailToTheOwner(JobTestCase):
    layer = MAIL_TESTING

    def setUp(self):
        super().setUp()
        self.db = self.app._p_jar.db()
        self.member = self.portal.portal_membership.getMemberById(TEST_USER_ID)
        self.member.setMemberProperties({"email": ADDRESS})
        transaction.commit()

    def messages(self):
        transaction.begin()  # what was committed meanwhile
        return [email.message_from_bytes(m) if isinstance(m, bytes) else m for m in self.portal.MailHost.messages]

    def ended(self, process_id):
        """Wait until the process is done and its worker is through with it (the mail sent or not)."""
        wait_until(lambda: self.fresh_record(process_id).state == registry.DONE, what=f"process {process_id} done")
        idle_pool()
        return self.fresh_record(process_id)

    def test_mailed_once_with_the_link_and_nothing_of_the_result(self):
        secret = uuid.uuid4().hex
        process_id = self.browser.start(self.url("mails-when-done"), secret=secret)  # its tab closed at once
        record = self.ended(process_id)
        self.assertTrue(record.mailed)
        (message,) = self.messages()
        self.assertEqual(message["To"], ADDRESS)
        self.assertIn("noreply@example.com", message["From"])
        self.assertRegex(message["Subject"], "^Ready: (mails-when-done|Mails when done)$")
        body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
        self.assertIn(f"{self.site_url}/@@mails-when-done/result?process_id={process_id}", body)
        self.assertNotIn(secret, message.as_string())
        self.assertNotIn("The result", message.as_string())
        # The end again (a retried end, another worker's report): no second mail.
        self.assertFalse(notify.after_end(self.db, process_id))
        self.assertFalse(notify.mail_once(self.db, process_id))
        self.assertEqual(len(self.messages()), 1)
        self.browser.open(f"{self.site_url}/@@mails-when-done/result?process_id={process_id}")
        self.assertIn(secret, self.browser.text)  # the link gives the result to its owner

    def test_a_watched_end_sends_none_and_a_conflict_in_the_mail_sends_one(self):
        gate = new_gate(self)
        process_id = self.browser.start(self.url("mails-when-done"), gate=gate)
        self.assertIn(self.browser.poll(self.url("mails-when-done"), process_id)["state"], ("queued", "running"))
        GATES[gate].set()  # it ends while its tab polls
        record = self.ended(process_id)
        self.assertFalse(getattr(record, "mailed", False))
        self.assertEqual(self.messages(), [])
        # Asked again (the page was closed after all): the mail's transaction
        # conflicts with another write of the record; its retry sends, once.
        change = ConcurrentChange(self.db, process_id)
        transaction.manager.registerSynch(change)
        try:
            self.assertTrue(notify.mail_once(self.db, process_id))
        finally:
            transaction.manager.unregisterSynch(change)
        self.assertEqual(change.commits, 2)  # the conflict, then the retry
        self.assertEqual(self.fresh_record(process_id).message, "changed meanwhile")
        self.assertEqual(len(self.messages()), 1)
        self.assertFalse(notify.mail_once(self.db, process_id))
        self.assertEqual(len(self.messages()), 1)

    def test_no_mail_without_an_address(self):
        self.member.setMemberProperties({"email": ""})
        transaction.commit()
        process_id = self.browser.start(self.url("mails-when-done"), secret="x")
        self.assertFalse(getattr(self.ended(process_id), "mailed", False))
        self.assertEqual(self.messages(), [])

    def test_no_mail_without_the_sites_sender_address_and_a_warning(self):
        getUtility(IRegistry, context=self.portal)["plone.email_from_address"] = ""
        transaction.commit()
        with self.assertLogs("netsight.async", "WARNING") as logged:
            process_id = self.browser.start(self.url("mails-when-done"), secret="x")
            self.assertFalse(getattr(self.ended(process_id), "mailed", False))
        self.assertEqual(self.messages(), [])
        self.assertIn("no e-mail sender address", "\n".join(logged.output))

    def test_no_mail_where_the_view_does_not_ask_nor_for_an_anonymous_owner(self):
        hello = self.browser.start(self.url("hello"))
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        theirs = anonymous.start(self.url("mails-when-done"), secret="x")
        self.ended(hello)
        self.assertIsNone(self.ended(theirs).mail)
        self.assertEqual(self.messages(), [])
