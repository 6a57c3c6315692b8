"""The Retry button (issue 27, point 5a): a failed process run again with the request it kept, as a new process linked to it."""

from netsight.asynchronous import addresses
from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.retry_views import RUNS
from netsight.asynchronous.tests.test_anonymous import AnonymousTestCase  # a base class: no tests of its own
from netsight.asynchronous.tests.test_ownership import OTHER_PASSWORD
from netsight.asynchronous.tests.test_ownership import OTHER_USER
from netsight.asynchronous.tests.test_ownership import without_tokens
from netsight.asynchronous.tests.test_retries import RetriesTestCase  # a base class: no tests of its own
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
        from netsight.asynchronous.tests.helpers.views import GATES
        from netsight.asynchronous.tests.helpers.views import new_gate

        gate = new_gate(self)  # the new attempt waits at it: a done one's processing page would redirect to its result
        url, process_id, token = self.failed("once-fails-then-waits", gate=gate)
        self.retry(self.browser, url, process_id)
        new_id = self.new_id(self.browser, url)
        answer = self.browser.poll(url, new_id)
        self.assertEqual(answer["attempt_message"], "Attempt 2")
        self.assertEqual((answer["attempt"], answer["max_attempts"]), (2, 1))  # its view's attempts: no automatic retry
        page = self.page(self.browser, url, new_id)
        (line,) = page.cssselect(".netsight-async-attempt")
        self.assertIn("Attempt 2", line.text_content())
        self.assertTrue(line.cssselect("a")[0].get("href").endswith(f"/processing?process_id={process_id}"))
        GATES[gate].set()
        self.assertEqual(self.browser.wait_for(url, new_id)["state"], "done")

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

    def test_to_a_script_the_unknown_id_is_json_as_completed_answers_it(self):
        """A retry or a cancel asked for JSON: the unknown id's 404 is JSON, byte for byte the same for
        another member's process (it was an HTML page, where ``completed`` answers JSON)."""
        url, process_id, token = self.failed()
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        other.open(f"{url}/completed?process_id={UNKNOWN_ID}&output_json=1")
        expected = (404, "application/json", json.loads(other.text))
        for action in ("retry", "cancel"):
            for pid in (process_id, UNKNOWN_ID):
                with self.subTest(action=action, pid=pid):
                    form = {"process_id": pid, "output_json": "1", "_authenticator": other.token}
                    other.post(f"{url}/{action}", urlencode(form))
                    self.assertEqual((other.status, other.headers["Content-Type"], json.loads(other.text)), expected)
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


class TestRetryAfterAutomaticRetries(RetriesTestCase):
    """A Retry button once a view's automatic attempts are used up: its attempt is beyond them, and says no limit."""

    view = "fails-until-retryable"

    def test_the_retry_of_attempt_3_of_3_reads_attempt_4_not_4_of_4(self):
        url, first, token = self.start(fail_times="4", retries="2")  # its three attempts fail, and the button's
        last = self.chain(url, first)[-1]
        self.assertEqual((last["attempt"], last["attempt_message"], last["retryable"]), (3, "Attempt 3 of 3 failed", True))
        self.browser.post(f"{url}/retry", urlencode({"process_id": last["process_id"], "_authenticator": self.browser.token}))
        self.assertEqual(self.browser.status, 303)
        (new_id,) = parse_qs(urlparse(self.browser.headers["Location"]).query)["process_id"]
        answer = self.browser.wait_for(url, new_id)
        self.assertEqual((answer["state"], answer["retry_of"], answer["retried_by"]), ("failed", last["process_id"], None))
        # The view's limit stays what it said (3): the button's attempt is beyond it, not "4 of 4".
        self.assertEqual((answer["attempt"], answer["max_attempts"]), (4, 3))
        self.assertEqual(answer["attempt_message"], "Attempt 4")
        self.assertTrue(answer["retryable"])  # no automatic retry beyond the limit; the button again
        self.assertEqual(len(RUNS[token]), 4)
        page = self.page(url, new_id)
        (line,) = lxml.html.fromstring(page).cssselect(".netsight-async-attempt-text")
        self.assertEqual(line.text_content(), "Attempt 4")


class TestRetryOfAnOnlyOnceJob(JobTestCase):
    """A Retry of an only-once job (``dedupe_key``, site-wide) holds its key as a start does."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING
    failed = TestRetryButton.failed
    retry = TestRetryButton.retry
    new_id = TestRetryButton.new_id

    def setUp(self):
        super().setUp()
        self.portal.acl_users.userFolderAddUser(OTHER_USER, OTHER_PASSWORD, ["Member"], [])
        transaction.commit()
        from netsight.asynchronous.tests.helpers.views import new_gate

        self.gate = new_gate(self)
        self.other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)

    def start_again(self, browser, url, token):
        """A normal start of the same key by ``browser``: ``(status, Location)``."""
        browser.post(url, urlencode({"token": token, "gate": self.gate, "_authenticator": browser.token}))
        return browser.status, browser.headers.get("Location")

    def test_while_the_retry_waits_or_runs_a_start_of_its_key_finds_it(self):
        url, process_id, token = self.failed("once-fails-then-waits", gate=self.gate)
        self.assertEqual(self.retry(self.browser, url, process_id), 303)
        new_id = self.new_id(self.browser, url)
        status, location = self.start_again(self.browser, url, token)
        self.assertEqual(status, 303)
        self.assertTrue(location.endswith(f"/processing?process_id={new_id}"), location)  # the retry, no other process
        status, _location = self.start_again(self.other, url, token)
        self.assertEqual(status, 409)  # another owner's, site-wide: "already running", nothing of it
        self.assertEqual([pid for pid, _at in RUNS[token]][:2], [process_id, new_id])
        from netsight.asynchronous.tests.helpers.views import GATES

        GATES[self.gate].set()
        self.assertEqual(self.browser.wait_for(url, new_id)["state"], "done")
        self.assertEqual(len(RUNS[token]), 2)

    def test_a_retry_while_another_process_holds_the_key_answers_as_a_second_start(self):
        url, process_id, token = self.failed("once-fails-then-waits", gate=self.gate)
        status, location = self.start_again(self.other, url, token)  # the key is free once it failed
        self.assertEqual(status, 303)
        (holder,) = parse_qs(urlparse(location).query)["process_id"]
        self.assertEqual(self.retry(self.browser, url, process_id), 409)  # the other member's: nothing of it
        self.assertNotIn(holder, self.browser.text)
        self.assertIn("started by someone else", self.browser.text)
        self.browser.addHeader("Accept", "application/json")
        self.assertEqual(self.retry(self.browser, url, process_id), 409)
        self.assertEqual(json.loads(self.browser.text)["already_running"], True)
        manager = owner_browser(self.app, self.site_url)
        self.assertEqual(self.retry(manager, url, process_id), 303)  # a manager sees it: its page
        self.assertTrue(manager.headers["Location"].endswith(f"/processing?process_id={holder}"))
        self.assertIsNone(self.browser.poll(url, process_id)["retried_by"])  # nothing ran again
        self.assertEqual([pid for pid, _at in RUNS[token]], [process_id, holder])


class TestRetryWithinTheCaps(AnonymousTestCase):
    """A Retry passes the caps of a start (503 with Retry-After, nothing written) and keeps the address key."""

    def failed_anonymously(self, address="192.0.2.7"):
        """An anonymous visitor's failed ``fails-once`` process (its cookie kept: it owns it); ``(visitor, url, id)``."""
        visitor = self.visitor(address)
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        url = self.url("fails-once")
        visitor.post(url, urlencode({"token": token}))
        self.assertEqual(visitor.status, 303, visitor.contents[:300])
        process_id = visitor.headers["Location"].rpartition("process_id=")[2]
        self.assertEqual(visitor.wait_for(url, process_id)["state"], "failed")
        return visitor, url, process_id

    def retry(self, browser, url, process_id):
        form = {"process_id": process_id}
        if browser.token:
            form["_authenticator"] = browser.token
        browser.post(f"{url}/retry", urlencode(form))
        return browser.status

    def test_an_anonymous_retry_counts_against_its_address(self):
        self.setting("max-per-address", 1)
        visitor, url, process_id = self.failed_anonymously()
        held = self.start_anonymous()  # the address's one active process (another cookie, the same address)
        self.assertEqual(self.retry(visitor, url, process_id), 503)
        self.assertEqual(visitor.headers["Retry-After"], "30")
        self.assertIsNone(self.record(process_id).retried_by)  # nothing written
        manager = owner_browser(self.app, self.site_url)  # whoever clicks: the process's address counts
        self.assertEqual(self.retry(manager, url, process_id), 503)
        self.finish(held)
        self.assertEqual(self.retry(visitor, url, process_id), 303)
        new_id = visitor.headers["Location"].rpartition("process_id=")[2]
        self.assertEqual(self.record(new_id).retry_of, process_id)
        self.assertEqual(addresses.process_ids(self.app._p_jar.root(), self.key_of("192.0.2.7")), (new_id,))
        self.assertEqual(visitor.wait_for(url, new_id)["state"], "done")

    def test_a_members_retry_waits_within_the_queue_limit(self):
        self.setting("pool-size", 1)
        self.setting("queue-limit", 1)
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        url = self.url("fails-once")
        process_id = self.browser.start(url, token=token)
        self.assertEqual(self.browser.wait_for(url, process_id)["state"], "failed")
        running = self.start_gated()
        wait_until(lambda: self.running(running), what="the gated job to run")
        waiting = self.start_gated()  # the one that may wait
        self.assertEqual(self.retry(self.browser, url, process_id), 503)
        self.assertEqual(self.browser.headers["Retry-After"], "30")
        self.assertIn("Too many processes are waiting to start", self.browser.text)
        self.assertIsNone(self.record(process_id).retried_by)
        self.finish(running, waiting)
        self.assertEqual(self.retry(self.browser, url, process_id), 303)

    def test_an_automatic_retry_keeps_the_address_key_and_counts_against_it(self):
        self.setting("max-per-address", 1)
        visitor = self.visitor()
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        url = self.url("fails-until")
        visitor.post(url, urlencode({"token": token, "fail_times": "1", "retries": "1", "backoff": "60", "backoff_max": "60"}))
        process_id = visitor.headers["Location"].rpartition("process_id=")[2]
        second = visitor.wait_for(url, process_id)["retried_by"]
        self.assertEqual(self.record(second).state, registry.SCHEDULED)
        self.assertEqual(self.record(second).address_key, self.key_of("192.0.2.7"))
        self.start_anonymous(expect=503)  # the waiting retry is the address's one active process
        visitor.post(f"{url}/cancel", urlencode({"process_id": second}))
        self.start_anonymous()  # cancelled: the address is free
        self.open_gate()

    def test_a_managers_retry_of_a_members_process_counts_the_members_waiting_jobs(self):
        self.setting("pool-size", 2)
        self.setting("max-per-user", 1)
        self.setting("queue-limit", 1)
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        url = self.url("fails-once")
        process_id = self.browser.start(url, token=token)
        self.assertEqual(self.browser.wait_for(url, process_id)["state"], "failed")
        running = self.start_gated()
        self.running(running)
        waiting = self.start_gated()  # waits for the member's cap, a thread free: the member's one waiting job
        manager = owner_browser(self.app, self.site_url)
        self.assertEqual(self.retry(manager, url, process_id), 503)  # it would wait behind it, as the member's start would
        self.assertIsNone(self.record(process_id).retried_by)
        self.finish(running, waiting)
        self.assertEqual(self.retry(manager, url, process_id), 303)
