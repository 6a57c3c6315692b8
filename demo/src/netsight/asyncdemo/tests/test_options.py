"""The Fibonacci form's options as a user sees them: make it fail, its length, and the way back to the form."""

from netsight.asyncdemo.testing import NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING
from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import wait_until
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from urllib.parse import urlencode

import lxml.html
import transaction
import unittest


class TestOptions(unittest.TestCase):
    layer = NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.site_url = self.layer["portal"].absolute_url()
        self.url = f"{self.site_url}/fibonacci"
        self.browser = JobBrowser(self.app, self.site_url)  # a Member

    def start(self, browser=None, **form):
        browser = browser or self.browser
        browser.open(self.url)
        token = browser.getControl(name="_authenticator").value
        return browser.start(self.url, _authenticator=token, **form)

    def ended(self, process_id, browser=None):
        """The job's JSON status once it is done or failed."""
        browser = browser or self.browser
        return wait_until(
            lambda: (answer := browser.poll(self.url, process_id))["state"] in ("done", "failed") and answer,
            what=f"process {process_id}",
        )

    def record(self, process_id):
        transaction.begin()
        return registry.find(self.app._p_jar, process_id)

    def back_form(self):
        """The failure page's "Back to the form": its form's action and the fields it posts."""
        (form,) = lxml.html.fromstring(self.browser.contents).xpath(
            '//*[contains(@class, "netsight-async-failed")]//button[normalize-space()="Back to the form"]'
            "/ancestor::form[1]"
        )
        fields = [(field.get("name"), field.get("value")) for field in form.xpath('.//input[@type="hidden"]')]
        return form.get("action"), fields

    def records(self):
        transaction.begin()
        return len(self.app._p_jar.root().get(registry.ROOT_KEY) or ())

    def test_make_it_fail_shows_the_failure_page_half_way(self):
        process_id = self.start(n="500", seconds="0", fail="on")
        answer = self.ended(process_id)
        self.assertEqual(answer["state"], "failed", answer)
        self.assertEqual(self.record(process_id).progress, 50)  # it failed half-way
        self.browser.open(f"{self.url}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 500)
        page = lxml.html.fromstring(self.browser.contents)
        (failed,) = page.xpath('//*[contains(@class, "netsight-async-failed")]')
        self.assertIsNone(failed.get("hidden"))
        self.assertIn("The process failed.", failed.text_content())
        # A Member learns that it failed, not how; the site's owner (a Manager) reads why.
        self.assertNotIn("half-way, as the form asked", self.browser.contents)
        owner = JobBrowser(self.app, self.site_url, SITE_OWNER_NAME, SITE_OWNER_PASSWORD)
        owner.open(f"{self.url}/processing?process_id={process_id}")
        self.assertEqual(owner.status, 500)
        self.assertIn("F(500) failed half-way, as the form asked.", owner.contents)

    def test_the_length_is_honoured(self):
        for seconds in ("0", "1"):  # a second is enough to tell: the job takes milliseconds unpaced
            with self.subTest(seconds=seconds):
                process_id = self.start(n="300", seconds=seconds)
                self.assertEqual(self.ended(process_id)["state"], "done")
                record = self.record(process_id)
                took = record.finished - record.started
                self.assertGreaterEqual(took, float(seconds))
                self.assertLess(took, float(seconds) + 5, "the job took much longer than asked")

    def test_back_to_the_form_keeps_the_values(self):
        process_id = self.start(n="1234", seconds="0", fail="on")
        self.ended(process_id)
        self.browser.open(f"{self.url}/processing?process_id={process_id}")
        action, fields = self.back_form()
        self.assertEqual(action, f"{self.site_url}/@@fibonacci")  # no value in the URL: they are posted
        self.assertIn(("n", "1234"), fields)
        records = self.records()
        self.browser.post(action, urlencode(fields))
        self.assertEqual(self.browser.status, 200)
        self.assertEqual(self.records(), records)  # the form again, no new job
        self.assertEqual(self.browser.getControl(name="n").value, "1234")
        self.assertEqual(self.browser.getControl(name="seconds").value, "0")
        self.assertTrue(self.browser.getControl("Make it fail half-way").selected)
        self.assertIn("Fibonacci numbers", self.browser.contents)
        self.assertNotIn('id="fibonacci-error"', self.browser.contents)
