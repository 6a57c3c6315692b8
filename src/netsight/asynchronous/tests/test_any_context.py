"""The status pages under any context answer an existing id exactly as an unknown one; a GET on cancel is a 405.

That nothing is logged of these answers is checked in a real instance
(test_quiet_log): the test layers' publisher feeds no site error log.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.test_ownership import OTHER_PASSWORD
from netsight.asynchronous.tests.test_ownership import OTHER_USER
from netsight.asynchronous.tests.test_ownership import without_tokens

import transaction


UNKNOWN = "0" * 32
# Contexts that started no process: browser views (Plone's @@plone, a view
# of a view), a resource directory, a method. None has a path of its own.
CONTEXTS = ("@@plone", "@@plone/@@plone_context_state", "++resource++netsight.async.js", "getId")
NOT_OBJECTS = CONTEXTS[:3]  # those that the add-on's pages answer (a method's view is Unauthorized before)
PAGES = ("processing", "completed", "result", "cancel", "completed?output_json=1", "result?output_json=1")
COMPARED_HEADERS = ("Content-Type", "Cache-Control", "Location", "Allow", "Vary")


class TestAnyContext(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.portal.acl_users.userFolderAddUser(OTHER_USER, OTHER_PASSWORD, ["Member"], [])
        transaction.commit()

    def answer(self, browser, url, process_id):
        """What ``browser`` gets at ``url``, with ``process_id`` written as the unknown id."""
        browser.open(url)
        headers = {name: browser.headers.get(name, "").replace(process_id, UNKNOWN) for name in COMPARED_HEADERS}
        return browser.status, headers, without_tokens(browser.text).replace(process_id, UNKNOWN)

    def assert_unknown_everywhere(self, browser, process_id):
        """Below each context, every page answers ``process_id`` as it answers an id that does not exist."""
        for prefix in CONTEXTS:
            for page in PAGES:
                url = f"{self.site_url}/{prefix}/@@hello/{page}{'&' if '?' in page else '?'}process_id="
                seen = self.answer(browser, url + process_id, process_id)
                unknown = self.answer(browser, url + UNKNOWN, process_id)
                self.assertEqual(seen, unknown, (prefix, page))
                if prefix in NOT_OBJECTS:
                    self.assertEqual(seen[0], 405 if page == "cancel" else 404, (prefix, page))
                    self.assertEqual(seen[1]["Cache-Control"], "private, no-store", (prefix, page))
                    self.assertNotIn("Traceback", seen[2])
                    self.assertNotIn("AttributeError", seen[2])

    def test_an_existing_id_of_any_owner_is_unknown_below_any_other_context(self):
        url = self.url("hello")
        mine = self.browser.start(url)
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        anonymous_one = anonymous.start(url)
        manager = owner_browser(self.app, self.site_url)
        managers = manager.start(url)
        for browser, process_id in ((self.browser, mine), (anonymous, anonymous_one), (manager, managers)):
            self.assertEqual(browser.wait_for(url, process_id)["state"], registry.DONE)
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        stranger = JobBrowser(self.app, self.site_url, user=None)
        for process_id in (mine, anonymous_one, managers):
            for browser in (self.browser, anonymous, manager, other, stranger):
                self.assert_unknown_everywhere(browser, process_id)
        # Nothing was taken or changed: each owner fetches their result where it was started.
        for browser, process_id in ((self.browser, mine), (anonymous, anonymous_one), (manager, managers)):
            self.assertEqual(browser.result(url, process_id), "Hello world!")

    def test_a_running_process_is_unknown_below_a_browser_view_and_a_cancel_there_stops_nothing(self):
        job = HeldJob(self, 20)
        self.assertEqual(job.reached(), "20")
        self.assert_unknown_everywhere(self.browser, job.process_id)
        answers = []
        for process_id in (job.process_id, UNKNOWN):
            form = f"_authenticator={self.browser.token}&process_id={process_id}"
            self.browser.post(f"{self.site_url}/@@plone/@@progress/cancel", form)
            answers.append((self.browser.status, without_tokens(self.browser.text)))
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(answers[0][0], 404)
        answer = job.poll()
        self.assertEqual((answer["state"], answer.get("cancelling")), (registry.RUNNING, None))
        job.go_on()
        self.assertEqual(job.finish()["state"], registry.DONE)


class TestStartBelowABrowserView(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_is_a_bad_request_that_records_nothing(self):
        token = self.browser.token
        storage = self.app._p_jar.db().storage
        before = storage.lastTransaction()
        for prefix in NOT_OBJECTS:
            for accept in ("text/html", "application/json"):
                self.browser.addHeader("Accept", accept)
                self.browser.post(f"{self.site_url}/{prefix}/@@hello", f"_authenticator={token}")
                self.assertEqual(self.browser.status, 400, (prefix, accept))
                self.assertNotIn("AttributeError", self.browser.text)
        self.assertEqual(storage.lastTransaction(), before)  # no record, no job


class TestCancelNeedsAPost(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_get_and_head_are_a_405_that_changes_nothing(self):
        job = HeldJob(self, 10)
        job.reached()
        for process_id in (job.process_id, UNKNOWN, ""):
            url = f"{job.url}/cancel?process_id={process_id}"
            self.browser.open(url)
            self.assertEqual(self.browser.status, 405, process_id)
            self.assertEqual(self.browser.headers["Allow"], "POST")
            self.assertEqual(self.browser.headers["Cache-Control"], "private, no-store")
            self.assertEqual(self.browser.text, "cancel needs a POST")
            head = self.browser.head(url)
            self.assertEqual((head.status_int, head.headers["Allow"]), (405, "POST"))
        answer = job.poll()
        self.assertEqual((answer["state"], answer.get("cancelling")), (registry.RUNNING, None))
