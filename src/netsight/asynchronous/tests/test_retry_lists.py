"""Retry in the lists (issue 27, point 5): My processes and the Managers' list run a failed process again, beside Remove."""

from urllib.parse import urlencode

from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.retry_views import RUNS
from netsight.asynchronous.tests.test_manage_processes import status_messages
from netsight.asynchronous.tests.test_my_processes_links import my_rows
from netsight.asynchronous.tests.test_ownership import OTHER_PASSWORD
from netsight.asynchronous.tests.test_ownership import OTHER_USER

import lxml.html
import transaction
import uuid


UNKNOWN_ID = "0" * 32
MANAGE = "@@netsight-async-processes"


def retry_form(row):
    """The Retry form (My processes) or button (Managers' list) of a row, or None."""
    found = row.xpath(".//form[contains(@class, 'netsight-async-retry')] | .//button[@value='retry']")
    return found[0] if found else None


def manager_rows(browser, site_url):
    """``{process id: row element}`` of the Managers' list."""
    browser.open(f"{site_url}/{MANAGE}")
    assert browser.status == 200, browser.status
    page = lxml.html.fromstring(browser.contents)
    return {row.get("data-process-id"): row for row in page.xpath("//div[@id='netsight-async-all-processes']//tbody/tr")}


class RetryListsTestCase(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.portal.acl_users.userFolderAddUser(OTHER_USER, OTHER_PASSWORD, ["Member"], [])
        transaction.commit()

    def failed(self, view="fails-once"):
        """A process of ``view`` whose first run failed, and its token."""
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        url = self.url(view)
        process_id = self.browser.start(url, token=token)
        self.assertEqual(self.browser.wait_for(url, process_id)["state"], "failed")
        return process_id, token

    def post(self, browser, page, process_id, token=True, **form):
        form.update(action="retry", process_id=process_id)
        if token and browser.token:
            form["_authenticator"] = browser.token
        browser.post(f"{self.site_url}/{page}", urlencode(form))
        return browser.status

    def messages_after(self, browser):
        """The status messages of the page the last POST redirected to."""
        browser.open(browser.headers["Location"])
        return status_messages(browser.text)

    def new_id(self, process_id):
        return self.fresh_record(process_id).retried_by


class TestMyProcesses(RetryListsTestCase):

    def test_the_owner_retries_a_failed_process_from_the_list(self):
        process_id, token = self.failed()
        row = my_rows(self.browser, self.site_url)[process_id]
        form = retry_form(row)
        self.assertIsNotNone(form)
        self.assertEqual(form.xpath("string(.//button)").strip(), "Retry")
        self.assertTrue(form.xpath("string(.//input[@name='_authenticator']/@value)"))  # the CSRF token
        self.assertEqual(self.post(self.browser, "@@my-processes", process_id), 303)
        self.assertEqual(self.browser.headers["Location"], f"{self.site_url}/@@my-processes")
        new_id = self.new_id(process_id)
        self.assertIsNotNone(new_id)
        self.assertIn(f"{process_id} runs again as {new_id}.", " ".join(self.messages_after(self.browser)))
        done = self.browser.wait_for(self.url("fails-once"), new_id)
        self.assertEqual((done["state"], done["retry_of"]), ("done", process_id))
        rows = my_rows(self.browser, self.site_url)
        self.assertIsNone(retry_form(rows[process_id]))  # retried: no button any more
        self.assertEqual(len(RUNS[token]), 2)

    def test_no_button_where_the_view_does_not_allow_it_and_its_post_is_the_unknown_ids(self):
        process_id, token = self.failed("fails-no-retry")
        self.assertIsNone(retry_form(my_rows(self.browser, self.site_url)[process_id]))
        self.assert_unknown(self.browser, process_id)
        self.assertEqual(len(RUNS[token]), 1)

    def assert_unknown(self, browser, process_id):
        """A Retry POST of ``process_id`` by ``browser`` answers as one of an id that never was, but for the id."""
        self.assertEqual(self.post(browser, "@@my-processes", process_id), 303)
        answer = [text.replace(process_id, "ID") for text in self.messages_after(browser)]
        self.assertEqual(self.post(browser, "@@my-processes", UNKNOWN_ID), 303)
        self.assertEqual(answer, [text.replace(UNKNOWN_ID, "ID") for text in self.messages_after(browser)])
        self.assertTrue(any("There is no process ID." in text for text in answer), answer)
        self.assertIsNone(self.new_id(process_id))

    def test_another_member_gets_the_unknown_ids_answer(self):
        process_id, token = self.failed()
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        self.assertNotIn(process_id, my_rows(other, self.site_url))
        self.assert_unknown(other, process_id)

    def test_without_the_token_nothing_runs(self):
        process_id, token = self.failed()
        self.assertEqual(self.post(self.browser, "@@my-processes", process_id, token=False), 403)
        self.assertIsNone(self.new_id(process_id))


class TestManagersList(RetryListsTestCase):

    def setUp(self):
        super().setUp()
        self.manager = owner_browser(self.app, self.site_url)

    def test_a_manager_retries_a_members_process_from_the_list_beside_remove(self):
        process_id, token = self.failed()
        row = manager_rows(self.manager, self.site_url)[process_id]
        button = retry_form(row)
        self.assertEqual(button.text_content().strip(), "Retry")
        form = button.getparent()
        self.assertEqual([b.get("value") for b in form.xpath(".//button")], ["remove", "retry"])
        self.assertTrue(form.xpath("string(.//input[@name='_authenticator']/@value)"))
        self.assertEqual(self.post(self.manager, MANAGE, process_id, state="failed"), 303)
        self.assertEqual(self.manager.headers["Location"], f"{self.site_url}/{MANAGE}?state=failed")
        new_id = self.new_id(process_id)
        self.assertIn(
            f"fails-once ({process_id}) runs again as fails-once ({new_id}).", " ".join(self.messages_after(self.manager))
        )
        done = self.browser.wait_for(self.url("fails-once"), new_id)  # the member's still
        self.assertEqual(done["state"], "done")
        self.assertEqual(self.fresh_record(new_id).owner, self.fresh_record(process_id).owner)

    def test_a_done_process_has_no_button_and_is_not_retried(self):
        process_id, token = self.failed()
        self.post(self.manager, MANAGE, process_id)
        new_id = self.new_id(process_id)
        self.browser.wait_for(self.url("fails-once"), new_id)
        self.assertIsNone(retry_form(manager_rows(self.manager, self.site_url)[new_id]))
        self.assertEqual(self.post(self.manager, MANAGE, new_id), 303)
        self.assertIn(
            f"fails-once ({new_id}) cannot run again: it did not fail, or it was retried already.",
            " ".join(self.messages_after(self.manager)),
        )
        self.assertEqual(len(RUNS[token]), 2)

    def test_a_view_without_may_retry_is_the_unknown_ids_answer(self):
        process_id, token = self.failed("fails-no-retry")
        self.assertIsNone(retry_form(manager_rows(self.manager, self.site_url)[process_id]))
        self.assertEqual(self.post(self.manager, MANAGE, process_id), 303)
        answer = [text.replace(process_id, "ID") for text in self.messages_after(self.manager)]
        self.post(self.manager, MANAGE, UNKNOWN_ID)
        self.assertEqual(answer, [text.replace(UNKNOWN_ID, "ID") for text in self.messages_after(self.manager)])
        self.assertIsNone(self.new_id(process_id))


class TestListsAsAStart(RetryListsTestCase):
    """A list's Retry is a start for the caps and only once: refused, it says why, in its usual 303."""

    def test_a_retry_beyond_the_queue_limit_or_of_a_key_held_by_another_says_so_and_runs_nothing(self):
        from netsight.asynchronous.tests.helpers.base import setting
        from netsight.asynchronous.tests.helpers.views import GATES
        from netsight.asynchronous.tests.helpers.views import new_gate

        gate = new_gate(self)
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        url = self.url("once-fails-then-waits")
        process_id = self.browser.start(url, token=token, gate=gate)
        self.assertEqual(self.browser.wait_for(url, process_id)["state"], "failed")
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        holder = other.start(url, token=token, gate=gate)  # the key is free once it failed
        self.assertEqual(self.post(self.browser, "@@my-processes", process_id), 303)
        (message,) = self.messages_after(self.browser)
        self.assertTrue(message.endswith(f"{process_id} was not run again: the same job waits or runs already."), message)
        self.assertNotIn(holder, message)
        GATES[gate].set()
        self.assertEqual(other.wait_for(url, holder)["state"], "done")
        setting(self, "queue-limit", 1)
        setting(self, "job-threads", 0)  # a front-end: the retry would wait in the database, behind the one there
        self.browser.start(self.url("fails-once"), token=uuid.uuid4().hex)  # waits unclaimed: the queue is full
        self.assertEqual(self.post(self.browser, "@@my-processes", process_id), 303)
        (message,) = self.messages_after(self.browser)
        self.assertTrue(message.endswith(f"{process_id} was not run again: too many processes are waiting to start. Try again later."), message)
        self.assertIsNone(self.fresh_record(process_id).retried_by)
