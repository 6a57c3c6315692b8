"""A process is the business of the browser that started it (or of a Manager)."""

from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.base import JobBrowser
from netsight.asynchronous.tests.base import JobTestCase
from netsight.asynchronous.tests.base import owner_browser
from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_ID

import re
import transaction


OTHER_USER = "other-user"
OTHER_PASSWORD = "other-password-12345"


def without_tokens(page):
    """``page`` less plone.protect's tokens: each page draws one from the user's keyring at random."""
    return TOKEN.sub("", page)


TOKEN = re.compile(r'(?<=data-token=")[0-9a-f]+|(?<=name="_authenticator" value=")[0-9a-f]+')


class TestOwnership(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.portal.acl_users.userFolderAddUser(OTHER_USER, OTHER_PASSWORD, ["Member"], [])
        transaction.commit()

    def assert_unknown_to(self, browser, url, process_id):
        """``browser`` gets exactly what it gets for an id that does not exist."""
        for page in ("processing", "completed", "result", "completed?output_json=1"):
            browser.open(f"{url}/{page}{'&' if '?' in page else '?'}process_id={process_id}")
            status, text = browser.status, browser.text
            browser.open(f"{url}/{page}{'&' if '?' in page else '?'}process_id={'0' * 32}")
            self.assertEqual((status, without_tokens(text)), (404, without_tokens(browser.text)), page)

    def test_another_user_gets_a_404(self):
        url = self.url("hello")
        process_id = self.browser.start(url)
        self.browser.wait_for(url, process_id)
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        self.assert_unknown_to(other, url, process_id)
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")

    def test_a_manager_sees_every_process(self):
        url = self.url("hello")
        process_id = self.browser.start(url)
        manager = owner_browser(self.app, self.site_url)
        self.assertEqual(manager.wait_for(url, process_id)["completed"], True)
        self.assertEqual(manager.result(url, process_id), "Hello world!")

    def test_an_editor_is_not_the_owner(self):
        setRoles(self.portal, TEST_USER_ID, ["Member", "Editor"])
        transaction.commit()
        url = self.url("hello")
        process_id = self.browser.start(url)
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        self.browser.wait_for(url, process_id)
        self.assert_unknown_to(other, url, process_id)


class TestAnonymousOwnership(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_an_anonymous_process_is_bound_to_its_browser(self):
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        url = self.url("hello")
        process_id = anonymous.start(url)
        cookie = anonymous.headers["Set-Cookie"]
        self.assertRegex(cookie, r"^netsight_async_owner=[A-Za-z0-9_-]{43};")
        self.assertIn("Path=/plone;", cookie)
        self.assertIn("HTTPOnly", cookie.replace("HttpOnly", "HTTPOnly"))
        self.assertIn("SameSite=Lax", cookie)
        self.assertEqual(anonymous.wait_for(url, process_id)["completed"], True)
        # another anonymous browser, and a user, holding only the id
        for stranger in (JobBrowser(self.app, self.site_url, user=None), self.browser):
            stranger.open(f"{url}/result?process_id={process_id}")
            self.assertEqual(stranger.status, 404)
        self.assertEqual(anonymous.result(url, process_id), "Hello world!")

    def test_one_secret_per_browser(self):
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        url = self.url("hello")
        first = anonymous.start(url)
        self.assertIn("Set-Cookie", anonymous.headers)
        second = anonymous.start(url)
        self.assertNotIn("Set-Cookie", anonymous.headers)
        for process_id in (first, second):
            anonymous.wait_for(url, process_id)
            self.assertEqual(anonymous.result(url, process_id), "Hello world!")

    def test_the_database_keeps_only_a_hash_of_the_secret(self):
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        process_id = anonymous.start(self.url("hello"))
        secret = anonymous.cookies["netsight_async_owner"]
        record = self.fresh_record(process_id)
        self.assertIsNone(record.owner)
        self.assertEqual(len(record.anonymous_key), 64)
        self.assertNotIn(secret, record.anonymous_key)
        anonymous.wait_for(self.url("hello"), process_id)
