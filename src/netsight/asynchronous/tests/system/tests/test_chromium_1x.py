"""A client written for 1.x, in Debian's Chromium: a Member logged in through
Plone's login form, and an anonymous visitor, from the form to the result.

The view and its template (``one-x-fibonacci``) are written as the 1.x
README shows them: a form without any token, ``allowed_attributes``, a
commit per step, the two-argument ``set_progress``, and the result rendered
by the ZCML template with ``no_process=True``. Chromium sends HTTP basic
credentials only after a 401, so the Member logs in through the form.
"""

from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD
from playwright.sync_api import expect

from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.chromium import CHROMIUM_BROWSER
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL
from netsight.asynchronous.tests.helpers.chromium import TIMEOUT

import unittest


class TestAOneXClient(unittest.TestCase):
    layer = CHROMIUM_BROWSER

    def setUp(self):
        self.addCleanup(join_workers)
        portal = self.layer["portal"]
        self.site_url = chromium_server_url(self.layer) + "/".join(portal.getPhysicalPath())
        context = self.layer["browser"].new_context()  # no credentials: a visitor
        self.addCleanup(context.close)
        context.set_default_timeout(TIMEOUT)
        self.page = context.new_page()

    def log_in(self):
        page = self.page
        page.goto(f"{self.site_url}/login")
        page.fill("#__ac_name", TEST_USER_NAME)
        page.fill("#__ac_password", TEST_USER_PASSWORD)
        page.click("#buttons-login")
        expect(page.locator("#__ac_name")).to_have_count(0)  # the form is gone: logged in

    def compute(self, n):
        page = self.page
        page.goto(f"{self.site_url}/one-x-fibonacci")
        page.fill("input[name=n]", str(n))
        page.click("input[value='Go!']")
        page.wait_for_url(RESULT_URL)
        return page.locator("#one-x-result")

    def test_a_member_logged_in_through_the_form(self):
        self.log_in()
        self.page.goto(f"{self.site_url}/one-x-fibonacci")
        # plone.protect put its token into the plain form, as in any Plone page.
        self.assertTrue(self.page.locator("form input[name=_authenticator]").input_value())
        expect(self.compute(30)).to_have_text("F(30) = 832040")

    def test_an_anonymous_visitor(self):
        # A visitor's form has no token, and needs none (as plone.protect).
        self.page.goto(f"{self.site_url}/one-x-fibonacci")
        self.assertEqual(self.page.locator("form input[name=_authenticator]").count(), 0)
        expect(self.compute(20)).to_have_text("F(20) = 6765")
