"""The Retry button (issue 27, point 5a): a failed process run again with the request it kept, as a new process linked to it."""

from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.retry_views import RUNS
from netsight.asynchronous.tests.test_ownership import OTHER_PASSWORD
from netsight.asynchronous.tests.test_ownership import OTHER_USER
from netsight.asynchronous.tests.test_ownership import without_tokens
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlparse

import json
import lxml.html
import transaction
import uuid


UNKNOWN_ID = "0" * 32


def retry_buttons(page):
    """The Retry forms the page shows (processing.js shows a hidden one when a poll says the process may run again)."""
    return [form for form in page.cssselect("form.netsight-async-retry") if form.get("hidden") is None]


class TestRetryButton(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.portal.acl_users.userFolderAddUser(OTHER_USER, OTHER_PASSWORD, ["Member"], [])
        transaction.commit()

    def failed(self, view="fails-once", **form):
        """Start ``view`` with a token of its own and wait until its first run failed; ``(url, process id, token)``."""
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        url = self.url(view)
        process_id = self.browser.start(url, token=token, **form)
        answer = self.browser.wait_for(url, process_id)
        self.assertEqual(answer["state"], "failed")
        return url, process_id, token

    def retry(self, browser, url, process_id, token=True):
        form = {"process_id": process_id}
        if token and browser.token:
            form["_authenticator"] = browser.token
        browser.post(f"{url}/retry", urlencode(form))
        return browser.status

    def new_id(self, browser, url):
        location = browser.headers["Location"]
        (new_id,) = parse_qs(urlparse(location).query)["process_id"]
        self.assertEqual(location, f"{url.replace(self.site_url + '/', self.site_url + '/@@')}/processing?process_id={new_id}")
        return new_id

    def page(self, browser, url, process_id):
        browser.open(f"{url}/processing?process_id={process_id}")
        return lxml.html.fromstring(browser.text)

    def test_the_owner_retries_a_failed_process_as_a_new_process_linked_to_it(self):
        url, process_id, token = self.failed()
        transaction.begin()
        self.assertIsNone(getattr(self.portal, "_retry_mark", None))  # the failed run's own write was rolled back
        page = self.page(self.browser, url, process_id)
        (form,) = retry_buttons(page)
        self.assertTrue(form.get("action").endswith("/retry"))
        self.assertEqual(form.cssselect("button")[0].text_content().strip(), "Retry")
        self.assertEqual(self.retry(self.browser, url, process_id), 303)
        new_id = self.new_id(self.browser, url)
        self.assertNotEqual(new_id, process_id)
        done = self.browser.wait_for(url, new_id)
        self.assertEqual(done["state"], "done")
        self.assertEqual((done["attempt"], done["retry_of"]), (2, process_id))
        self.assertEqual(self.browser.result(url, new_id), "Ran 2 times")
        self.assertEqual([pid for pid, _at in RUNS[token]], [process_id, new_id])  # the same request: its token
        old = self.browser.poll(url, process_id)
        self.assertEqual((old["state"], old["retried_by"], old["retryable"]), ("failed", new_id, False))
        page = self.page(self.browser, url, process_id)  # the old one's page: the link to the new, no more button
        self.assertEqual(retry_buttons(page), [])
        (link,) = page.cssselect(".netsight-async-retried-by a")
        self.assertTrue(link.get("href").endswith(f"/processing?process_id={new_id}"))

    def test_the_new_process_page_says_which_attempt_it_is(self):
        url, process_id, token = self.failed()
        self.retry(self.browser, url, process_id)
        new_id = self.new_id(self.browser, url)
        answer = self.browser.poll(url, new_id)
        self.assertEqual(answer["attempt_message"], "Attempt 2")
        self.assertEqual((answer["attempt"], answer["max_attempts"]), (2, 2))
        page = self.page(self.browser, url, new_id)
        (line,) = page.cssselect(".netsight-async-attempt")
        self.assertIn("Attempt 2", line.text_content())
        self.assertTrue(line.cssselect("a")[0].get("href").endswith(f"/processing?process_id={process_id}"))
        self.browser.wait_for(url, new_id)

    def test_a_second_retry_of_the_same_process_answers_409_and_starts_nothing(self):
        url, process_id, token = self.failed()
        self.retry(self.browser, url, process_id)
        new_id = self.new_id(self.browser, url)
        self.browser.wait_for(url, new_id)
        self.assertEqual(self.retry(self.browser, url, process_id), 409)
        self.assertEqual(self.retry(self.browser, url, new_id), 409)  # done: nothing to retry
        self.assertEqual(len(RUNS[token]), 2)

    def test_without_the_token_it_is_refused(self):
        url, process_id, token = self.failed()
        self.assertEqual(self.retry(self.browser, url, process_id, token=False), 403)
        self.assertIsNone(self.browser.poll(url, process_id)["retried_by"])

    def test_a_get_is_not_allowed(self):
        url, process_id, token = self.failed()
        self.browser.open(f"{url}/retry?process_id={process_id}")
        self.assertEqual(self.browser.status, 405)

    def assert_unknown(self, browser, url, process_id):
        """A retry POST of ``process_id`` by ``browser`` is byte for byte the unknown id's."""
        status = self.retry(browser, url, process_id)
        text = without_tokens(browser.text)
        self.assertEqual(self.retry(browser, url, UNKNOWN_ID), 404)
        self.assertEqual((status, text), (404, without_tokens(browser.text)))

    def test_another_member_gets_the_unknown_id_answer(self):
        url, process_id, token = self.failed()
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        self.assert_unknown(other, url, process_id)
        self.assertIsNone(self.browser.poll(url, process_id)["retried_by"])

    def test_a_view_without_may_retry_has_no_button_and_answers_404(self):
        url, process_id, token = self.failed("fails-no-retry")
        page = self.page(self.browser, url, process_id)
        self.assertEqual(retry_buttons(page), [])
        self.assertFalse(self.browser.poll(url, process_id)["retryable"])
        self.assert_unknown(self.browser, url, process_id)
        self.assertIsNone(self.fresh_record(process_id).retry_request)  # 1.x's way: nothing kept

    def test_may_retry_as_a_method_is_asked_by_each_request(self):
        url, process_id, token = self.failed("retry-when-asked", retry_allowed="1")  # asked at the start: its request is kept
        self.browser.open(f"{url}/processing?process_id={process_id}&retry_allowed=1")
        self.assertEqual(len(retry_buttons(lxml.html.fromstring(self.browser.text))), 1)
        self.assertEqual(retry_buttons(self.page(self.browser, url, process_id)), [])
        self.assertEqual(self.retry(self.browser, url, process_id), 404)  # this POST's may_retry() says no
        self.assertIsNone(self.browser.poll(url, process_id)["retried_by"])
        url, other_id, token = self.failed("retry-when-asked")  # not at its start: nothing kept, no button
        self.browser.open(f"{url}/processing?process_id={other_id}&retry_allowed=1")
        self.assertEqual(retry_buttons(lxml.html.fromstring(self.browser.text)), [])

    def test_a_manager_retries_a_members_process_which_stays_the_members(self):
        url, process_id, token = self.failed()
        manager = owner_browser(self.app, self.site_url)
        self.assertEqual(len(retry_buttons(self.page(manager, url, process_id))), 1)
        self.assertEqual(self.retry(manager, url, process_id), 303)
        new_id = self.new_id(manager, url)
        self.assertEqual(self.browser.wait_for(url, new_id)["state"], "done")  # the member sees it: theirs
        self.assertEqual(self.fresh_record(new_id).owner, self.fresh_record(process_id).owner)

    def test_json_retry_answers_201_and_the_new_status(self):
        url, process_id, token = self.failed()
        self.browser.addHeader("Accept", "application/json")
        self.assertEqual(self.retry(self.browser, url, process_id), 201)
        answer = json.loads(self.browser.text)
        self.assertEqual(answer["retry_of"], process_id)
        self.assertIn(answer["process_id"], self.browser.headers["Location"])
        self.browser.wait_for(url, answer["process_id"])
