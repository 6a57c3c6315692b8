"""The mail to the owner of a job whose result still waits after the grace (``notify = "mail"``): at most once, the link, nothing of the result."""

from plone.app.testing import TEST_USER_ID
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

from netsight.asynchronous import notify
from netsight.asynchronous import registry
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import DEADLINE
from netsight.asynchronous.tests.helpers.base import idle_pool
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.smtp import SMTPServer
from netsight.asynchronous.tests.helpers.views import GATES
from netsight.asynchronous.tests.helpers.views import new_gate

import queue
import transaction
import uuid


ADDRESS = "member@example.com"
SENDER = "noreply@example.com"


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
    """A real SMTP server on a free port of 127.0.0.1 gets the site's mails;
    the grace is long until a test says it is over, and the passes run here,
    holding the maintenance thread's pass lock (it never runs one meanwhile)."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.db = self.app._p_jar.db()
        self.addCleanup(setattr, notify, "GRACE_POLLS", notify.GRACE_POLLS)
        notify.GRACE_POLLS = 1000  # within the grace, until ``after_the_grace``
        self.server = SMTPServer(refuse=False).__enter__()
        self.addCleanup(self.server.__exit__)
        self.member = self.portal.portal_membership.getMemberById(TEST_USER_ID)
        self.member.setMemberProperties({"email": ADDRESS})
        self.settings = getUtility(IRegistry, context=self.portal)
        self.settings["plone.email_from_address"] = SENDER
        self.settings["plone.email_from_name"] = "The site"
        self.settings["plone.smtp_host"] = "127.0.0.1"
        self.settings["plone.smtp_port"] = self.server.port
        transaction.commit()

    def mail_pass(self):
        """A mail pass within the grace."""
        with MAINTENANCE._pass:
            notify.mail_pass(self.db)

    def after_the_grace(self):
        """The grace is over: a mail pass."""
        with MAINTENANCE._pass:
            notify.GRACE_POLLS = 0
            notify.mail_pass(self.db)

    def mails(self):
        """The mails the SMTP server received (each pass's send returned after the server took it)."""
        received = []
        while True:
            try:
                received.append(self.server.received.get_nowait())
            except queue.Empty:
                return received

    def ended(self, process_id):
        """Wait until the process is done and its worker is through with it."""
        wait_until(lambda: self.fresh_record(process_id).state == registry.DONE, what=f"process {process_id} done")
        idle_pool()
        return self.fresh_record(process_id)

    def test_mailed_once_after_the_grace_with_the_link_and_nothing_of_the_result(self):
        secret = uuid.uuid4().hex
        process_id = self.browser.start(self.url("mails-when-done"), secret=secret)  # its tab closed at once
        self.ended(process_id)
        self.mail_pass()
        self.assertEqual(self.mails(), [])  # within the grace: a watching tab may show it yet
        self.after_the_grace()
        ((sender, recipients, message),) = self.mails()
        self.assertTrue(self.fresh_record(process_id).mailed)
        self.assertEqual(recipients, [ADDRESS])
        self.assertIn(SENDER, sender)
        self.assertEqual(message["To"], ADDRESS)
        self.assertIn(SENDER, message["From"])
        self.assertRegex(message["Subject"], "^Ready: (mails-when-done|Mails when done)$")
        text = message.get_body(("plain",)).get_content()
        self.assertIn(f"{self.site_url}/@@mails-when-done/result?process_id={process_id}", text)
        self.assertNotIn(secret, message.as_string())
        self.assertNotIn("The result", message.as_string())
        # More passes (this instance's, another's): no second mail.
        self.after_the_grace()
        self.assertFalse(notify.mail_once(self.db, process_id))
        self.assertEqual(self.mails(), [])
        self.assertEqual(self.server.sessions, 1)
        self.browser.open(f"{self.site_url}/@@mails-when-done/result?process_id={process_id}")
        self.assertIn(secret, self.browser.text)  # the link gives the result to its owner

    def test_the_maintenance_thread_sends_it(self):
        notify.GRACE_POLLS = 0
        process_id = self.browser.start(self.url("mails-when-done"), secret="x")
        try:
            sender, recipients, message = self.server.received.get(timeout=DEADLINE)
        except queue.Empty:
            self.fail("no mail reached the SMTP server")
        self.assertEqual(recipients, [ADDRESS])
        self.assertIn(process_id, message.get_body(("plain",)).get_content())
        self.assertTrue(self.fresh_record(process_id).mailed)

    def test_watched_until_shortly_before_the_end_it_is_mailed_after_the_grace(self):
        gate = new_gate(self)
        url = self.url("mails-when-done")
        process_id = self.browser.start(url, gate=gate, secret="x")
        self.assertIn(self.browser.poll(url, process_id)["state"], ("queued", "running"))
        GATES[gate].set()  # it ends just after its tab's last poll; the tab is closed
        self.ended(process_id)
        self.mail_pass()
        self.assertEqual(self.mails(), [])
        self.after_the_grace()
        self.assertEqual(len(self.mails()), 1)

    def test_no_mail_when_the_watching_tab_showed_the_result_within_the_grace(self):
        gate = new_gate(self)
        url = self.url("mails-when-done")
        process_id = self.browser.start(url, gate=gate, secret="x")
        self.assertIn(self.browser.poll(url, process_id)["state"], ("queued", "running"))
        GATES[gate].set()
        self.ended(process_id)
        self.mail_pass()
        self.assertEqual(self.browser.poll(url, process_id)["state"], "done")
        self.assertIn("The result: x", self.browser.result(url, process_id))  # the tab shows it
        self.after_the_grace()
        self.assertEqual(self.mails(), [])
        self.assertEqual(self.server.sessions, 0)
        self.assertFalse(getattr(self.fresh_record(process_id), "mailed", False))

    def test_a_refused_mail_is_logged_and_not_sent_again(self):
        self.server.refuse = True
        process_id = self.browser.start(self.url("mails-when-done"), secret="x")
        self.ended(process_id)
        with self.assertLogs("netsight.async", "ERROR") as logged:
            self.after_the_grace()
        self.assertIn(f"Process {process_id}: the mail to its owner ({ADDRESS}) could not be sent", logged.output[0])
        self.assertNotIn("Traceback", "\n".join(logged.output))
        self.assertTrue(self.fresh_record(process_id).mailed)  # at most once: marked before it was sent
        self.after_the_grace()
        self.assertEqual(self.server.sessions, 1)  # no retry
        self.assertEqual(self.mails(), [])

    def test_a_conflict_on_the_mark_still_sends_once(self):
        process_id = self.browser.start(self.url("mails-when-done"), secret="x")
        self.ended(process_id)
        change = ConcurrentChange(self.db, process_id)
        transaction.manager.registerSynch(change)
        try:
            self.after_the_grace()  # its mark's first commit conflicts with the change; the retry sends
        finally:
            transaction.manager.unregisterSynch(change)
        self.assertGreaterEqual(change.commits, 2)
        record = self.fresh_record(process_id)
        self.assertEqual(record.message, "changed meanwhile")
        self.assertTrue(record.mailed)
        self.assertEqual(len(self.mails()), 1)
        self.after_the_grace()
        self.assertEqual(self.mails(), [])

    def test_no_mail_without_an_address(self):
        self.member.setMemberProperties({"email": ""})
        transaction.commit()
        process_id = self.browser.start(self.url("mails-when-done"), secret="x")
        self.ended(process_id)
        self.after_the_grace()
        self.assertFalse(getattr(self.fresh_record(process_id), "mailed", False))
        self.assertEqual(self.server.sessions, 0)

    def test_no_mail_without_the_sites_sender_address_and_a_warning(self):
        self.settings["plone.email_from_address"] = ""
        transaction.commit()
        process_id = self.browser.start(self.url("mails-when-done"), secret="x")
        self.ended(process_id)
        with self.assertLogs("netsight.async", "WARNING") as logged:
            self.after_the_grace()
        self.assertFalse(getattr(self.fresh_record(process_id), "mailed", False))
        self.assertEqual(self.server.sessions, 0)
        self.assertIn("no e-mail sender address", "\n".join(logged.output))

    def test_no_mail_where_the_view_does_not_ask_nor_for_an_anonymous_owner(self):
        hello = self.browser.start(self.url("hello"))
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        theirs = anonymous.start(self.url("mails-when-done"), secret="x")
        self.ended(hello)
        self.assertIsNone(self.ended(theirs).mail)
        self.after_the_grace()
        self.assertEqual(self.server.sessions, 0)
