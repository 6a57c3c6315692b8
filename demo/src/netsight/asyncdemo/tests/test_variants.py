"""The demo's other Fibonacci views: ``fibonacci-kept`` (its result shown again), ``fibonacci-mail`` (a mail) and ``fibonacci-later`` (scheduled, retried)."""

from netsight.asyncdemo.fibonacci import Fibonacci
from netsight.asyncdemo.fibonacci import FibonacciKept
from netsight.asyncdemo.fibonacci import FibonacciLater
from netsight.asyncdemo.fibonacci import FibonacciMailed
from netsight.asyncdemo.testing import NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING
from netsight.asyncdemo.tests.smtp import SMTPServer
from netsight.asynchronous import notify
from netsight.asynchronous import claims
from netsight.asynchronous import registry
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.tests.helpers.base import DEADLINE
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.tests.helpers.base import wait_until
from plone.app.testing import TEST_USER_ID
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

from datetime import datetime
from urllib.parse import urlencode

import lxml.html
import queue
import re
import time
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
            ("fibonacci", ["fibonacci-kept", "fibonacci-mail", "fibonacci-later"], None),
            ("fibonacci-kept", ["fibonacci", "fibonacci-mail", "fibonacci-later"], FibonacciKept.variant),
            ("fibonacci-mail", ["fibonacci", "fibonacci-kept", "fibonacci-later"], FibonacciMailed.variant),
            ("fibonacci-later", ["fibonacci", "fibonacci-kept", "fibonacci-mail"], FibonacciLater.variant),
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
                # Only the later one asks when to start.
                self.assertEqual(len(form.xpath(".//input[@name='delay']")), 1 if view == "fibonacci-later" else 0)

    def test_the_job_is_named_by_its_n(self):
        for view in ("fibonacci", "fibonacci-kept", "fibonacci-mail", "fibonacci-later"):
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

    def test_later_is_scheduled_for_the_forms_seconds_and_may_be_cancelled_meanwhile(self):
        before = time.time()
        url, process_id = self.start("fibonacci-later", n="30", delay="3600")
        answer = self.browser.poll(url, process_id)
        self.assertEqual(answer["state"], "scheduled")
        self.assertAlmostEqual(datetime.fromisoformat(answer["scheduled_for"]).timestamp(), before + 3600, delta=60)
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertIn("Scheduled for", self.browser.text)
        self.browser.open(f"{self.site_url}/fibonacci-later")
        token = self.browser.getControl(name="_authenticator").value
        self.browser.post(f"{url}/cancel", urlencode({"process_id": process_id, "_authenticator": token}))
        self.assertEqual(self.browser.status, 303)
        self.assertEqual(self.browser.poll(url, process_id)["state"], "cancelled")

    def test_later_with_no_delay_runs_now(self):
        url, process_id = self.start("fibonacci-later", n="30", delay="0")
        self.assertEqual(self.browser.wait_for(url, process_id)["state"], "done")
        self.assertRegex(self.browser.result(url, process_id), rf'id="fibonacci-number"[^>]*>{F_30}<')

    def test_a_bad_delay_shows_the_form_again_and_starts_nothing(self):
        url = f"{self.site_url}/fibonacci-later"
        self.browser.open(url)
        token = self.browser.getControl(name="_authenticator").value
        for delay in ("soon", "-1", "3601"):
            with self.subTest(delay=delay):
                self.browser.post(url, urlencode({"_authenticator": token, "n": "30", "seconds": "0", "delay": delay}))
                self.assertEqual(self.browser.status, 200)
                page = lxml.html.fromstring(self.browser.contents)
                self.assertEqual(
                    page.xpath('string(//*[@id="fibonacci-error"])').strip(),
                    "Start in must be a whole number of seconds from 0 to 3600.",
                )
                self.assertEqual(page.xpath("//input[@name='delay']/@class"), ["form-control is-invalid"])

    def test_later_made_to_fail_is_tried_three_times_then_offers_retry(self):
        self.assertEqual((FibonacciLater.max_retries, FibonacciLater.retry_backoff), (2, 5.0))
        self.addCleanup(setattr, FibonacciLater, "retry_backoff", FibonacciLater.retry_backoff)
        FibonacciLater.retry_backoff = 0.05  # the demo's 5 and 10 s, made short for the test
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        MAINTENANCE.claimer = claims.claim_queued  # as in an instance: the maintenance thread claims the retries
        url, process_id = self.start("fibonacci-later", n="30", delay="0", fail="on")
        answers = []
        while process_id is not None:
            answers.append(self.browser.wait_for(url, process_id))
            process_id = answers[-1]["retried_by"]
        self.assertEqual([(a["state"], a["attempt"], a["max_attempts"]) for a in answers],
                         [("failed", 1, 3), ("failed", 2, 3), ("failed", 3, 3)])
        self.browser.open(f"{url}/processing?process_id={answers[-1]['process_id']}")
        self.assertIn("Attempt 3 of 3 failed", page_part(self.browser.text, "attempt").text_content())
        (button,) = lxml.html.fromstring(self.browser.contents).cssselect("form.netsight-async-retry")
        self.assertRegex(button.get("action"), r"/(@@)?fibonacci-later/retry$")
