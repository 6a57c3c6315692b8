"""The demo's other Fibonacci views: ``fibonacci-kept`` (its result shown again) and ``fibonacci-mail`` (a mail)."""

from netsight.asyncdemo.fibonacci import Fibonacci
from netsight.asyncdemo.fibonacci import FibonacciKept
from netsight.asyncdemo.fibonacci import FibonacciMailed
from netsight.asyncdemo.testing import NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING
from netsight.asyncdemo.tests.smtp import SMTPServer
from netsight.asynchronous import notify
from netsight.asynchronous import registry
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.tests.helpers.base import DEADLINE
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import wait_until
from plone.app.testing import TEST_USER_ID
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

import lxml.html
import queue
import re
import transaction
import unittest


F_30 = "832040"


class TestVariants(unittest.TestCase):
    layer = NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.portal = self.layer["portal"]
        self.site_url = self.portal.absolute_url()
        self.browser = JobBrowser(self.app, self.site_url)  # a Member

    def start(self, view, **form):
        url = f"{self.site_url}/{view}"
        self.browser.open(url)
        token = self.browser.getControl(name="_authenticator").value
        return url, self.browser.start(url, _authenticator=token, seconds="0", **form)

    def record(self, process_id):
        transaction.begin()
        return registry.find(self.app._p_jar, process_id)

    def test_the_form_links_to_each_variant_and_says_what_it_does(self):
        for view, links, says in (
            ("fibonacci", ["fibonacci-kept", "fibonacci-mail"], None),
            ("fibonacci-kept", ["fibonacci", "fibonacci-mail"], FibonacciKept.variant),
            ("fibonacci-mail", ["fibonacci", "fibonacci-kept"], FibonacciMailed.variant),
        ):
            with self.subTest(view=view):
                self.browser.open(f"{self.site_url}/{view}")
                page = lxml.html.fromstring(self.browser.contents)
                (form,) = page.xpath("//form[@id or @method='post'][.//input[@name='n']]")
                self.assertEqual(form.get("action"), f"{self.site_url}/{view}")
                hrefs = page.xpath('//*[@id="fibonacci-variants"]//a/@href')
                self.assertEqual(hrefs, [f"{self.site_url}/{name}" for name in links])
                variant = page.xpath('//*[@id="fibonacci-variant"]')
                self.assertEqual([node.text_content().strip() for node in variant], [says] if says else [])

    def test_the_job_is_named_by_its_n(self):
        for view in ("fibonacci", "fibonacci-kept", "fibonacci-mail"):
            with self.subTest(view=view):
                url, process_id = self.start(view, n="30")
                self.assertEqual(self.record(process_id).title, "Computing F(30)")

    def test_kept_shows_its_result_again(self):
        self.assertEqual(FibonacciKept.keep_result, 3600)
        self.assertEqual(getattr(Fibonacci, "keep_result", 0) or 0, 0)  # the plain one: once, as in 1.x
        url, process_id = self.start("fibonacci-kept", n="30")
        wait_until(lambda: self.browser.poll(url, process_id)["state"] == "done", what=f"process {process_id}")
        for _ in range(2):  # F5: the same result
            body = self.browser.result(url, process_id)
            self.assertEqual(self.browser.status, 200)
            self.assertRegex(body, rf'id="fibonacci-number"[^>]*>{F_30}<')

    def test_mail_sends_the_link_when_done_unwatched(self):
        self.assertEqual(FibonacciMailed.notify, "mail")
        member = self.portal.portal_membership.getMemberById(TEST_USER_ID)
        member.setMemberProperties({"email": "member@example.org"})
        settings = getUtility(IRegistry, context=self.portal)
        # The demo's profile: a sender, a server on localhost (here, the test's on a free port).
        self.assertEqual(settings["plone.email_from_address"], "demo@localhost")
        self.assertEqual(settings["plone.smtp_host"], "localhost")
        self.addCleanup(setattr, notify, "GRACE_POLLS", notify.GRACE_POLLS)
        notify.GRACE_POLLS = 0  # no grace: the next mail pass sends it
        with SMTPServer() as server:
            settings["plone.smtp_host"] = "127.0.0.1"
            settings["plone.smtp_port"] = server.port
            transaction.commit()
            # Nothing polls it: nobody watches its end.
            url, process_id = self.start("fibonacci-mail", n="30")
            wait_until(lambda: self.record(process_id).state == registry.DONE, what=f"process {process_id}")
            # The maintenance thread's pass (every notify.PASS_INTERVAL, 5 s), run now;
            # test_notify_mail has the thread's own. Had the thread sent it already, this one sends nothing.
            with MAINTENANCE._pass:
                notify.mail_pass(self.app._p_jar.db())
            try:
                sender, recipients, message = server.received.get(timeout=DEADLINE)
            except queue.Empty:
                self.fail("no mail reached the SMTP server")
        self.assertEqual(recipients, ["member@example.org"])
        self.assertIn("demo@localhost", sender)
        self.assertIn("demo@localhost", message["From"])
        text = message.get_body(("plain",)).get_content()
        self.assertIn(f"{url.rsplit('/', 1)[0]}/@@fibonacci-mail/result?process_id={process_id}", text)
        self.assertNotIn(F_30, text)  # the link, never the result
        self.assertIsNone(re.search(r"\b832040\b", message.as_string()))
