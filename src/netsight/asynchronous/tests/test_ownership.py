"""A process is the business of the browser that started it (or of a Manager)."""

from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_ID

import re
import transaction


OTHER_USER = "other-user"
OTHER_PASSWORD = "other-password-12345"


def without_tokens(page):
    """``page`` less plone.protect's tokens: each page draws one from the user's keyring at random."""
    return TOKEN.sub("", page)


TOKEN = re.compile(
    r"(?<=data-token=\")[0-9a-f]+|(?<=name=\"_authenticator\" value=\")[0-9a-f]+|(?<=_authenticator=)[0-9a-f]+"
    r"|(?<=name=\"_authenticator\" type=\"hidden\" value=\")[0-9a-f]+"  # plone.protect's, added to a POST form
)


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

    def setUp(self):
        super().setUp()

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

    def test_two_starts_in_one_request_are_one_browsers(self):
        """A view that starts twice in one request (``_run`` called twice): one new secret, one cookie,
        so that the browser owns both processes."""
        from AccessControl.SecurityManagement import noSecurityManager
        from netsight.asynchronous import owners

        noSecurityManager()
        request = self.layer["request"]
        first = owners.owner_of(request)  # the first start
        owners.give_secret(request)
        second = owners.owner_of(request)  # the second, in the same request
        owners.give_secret(request)
        self.assertEqual(first, second)
        self.assertEqual(owners._hash(request.response.cookies[owners.COOKIE]["value"]), first[1])

    def test_the_database_keeps_only_a_hash_of_the_secret(self):
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        process_id = anonymous.start(self.url("hello"))
        secret = anonymous.cookies["netsight_async_owner"]
        record = self.fresh_record(process_id)
        self.assertIsNone(record.owner)
        self.assertEqual(len(record.anonymous_key), 64)
        self.assertNotIn(secret, record.anonymous_key)
        anonymous.wait_for(self.url("hello"), process_id)


class TestOnlyRolesOnTheSite(JobTestCase):
    """Who sees every process is decided by roles on the site, never by a
    local role on a context that the URL lets the requester choose."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        acl_users = self.portal.acl_users
        acl_users.userFolderAddUser(OTHER_USER, OTHER_PASSWORD, ["Member"], [])
        acl_users.userFolderAddUser("site-admin", OTHER_PASSWORD, ["Member", "Site Administrator"], [])
        # A member owns what they add: here, a folder of their own (no workflow in this fixture).
        setRoles(self.portal, TEST_USER_ID, ["Manager"])
        self.portal.invokeFactory("Folder", "their-folder")
        folder = self.portal["their-folder"]
        folder.changeOwnership(acl_users.getUserById(OTHER_USER))
        folder.manage_setLocalRoles(OTHER_USER, ["Owner"])
        folder.reindexObjectSecurity()
        setRoles(self.portal, TEST_USER_ID, ["Member"])
        transaction.commit()
        self.other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)

    def test_the_local_owner_holds_view_management_screens_there(self):
        # What made 2.0's check of that permission on the context a hole.
        user = self.portal.acl_users.getUserById(OTHER_USER)
        folder = self.portal["their-folder"]
        self.assertIn("Owner", user.getRolesInContext(folder))
        self.assertTrue(user.has_permission("View management screens", folder))

    def test_a_local_owner_gets_what_an_unknown_id_gets(self):
        url = self.url("@@hello")
        process_id = self.browser.start(url)
        self.browser.wait_for(url, process_id)
        through_their_folder = f"{self.site_url}/their-folder/@@hello"
        self.assert_unknown_to(self.other, through_their_folder, process_id)
        self.assert_unknown_to(self.other, url, process_id)
        # ... and took nothing: the owner still gets the result.
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")

    def test_a_local_owner_sees_no_error_details(self):
        url = self.url("@@fails")
        process_id = self.browser.start(url)
        self.assertEqual(self.browser.wait_for(url, process_id)["state"], "failed")
        other_folder = f"{self.site_url}/their-folder/@@fails"
        self.other.open(f"{other_folder}/processing?process_id={process_id}")
        self.assertEqual(self.other.status, 404)
        self.assertNotIn("the import file is broken", self.other.text)
        # the owner sees that it failed, without the details
        answer = self.browser.poll(url, process_id)
        self.assertEqual(answer["completed"], "ERROR")
        self.assertNotIn("error_detail", answer)

    def test_a_site_administrator_and_a_manager_see_all(self):
        url = self.url("@@fails")
        process_id = self.browser.start(url)
        self.browser.wait_for(url, process_id)
        for browser in (
            JobBrowser(self.app, self.site_url, "site-admin", OTHER_PASSWORD),
            owner_browser(self.app, self.site_url),
        ):
            answer = browser.poll(url, process_id)
            self.assertEqual(answer["state"], "failed")
            self.assertIn("ValueError: the import file is broken", answer["error_detail"])

    def test_a_process_answers_only_on_its_view_and_context(self):
        url = self.url("@@hello")
        process_id = self.browser.start(url)
        self.browser.wait_for(url, process_id)
        for elsewhere in (f"{self.site_url}/their-folder/@@hello", self.url("@@echo")):
            self.assert_unknown_to(self.browser, elsewhere, process_id)
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")

    assert_unknown_to = TestOwnership.assert_unknown_to
