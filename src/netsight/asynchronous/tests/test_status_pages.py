"""``processing``, ``completed`` and ``result`` while a job runs, once done, if it died."""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import at_view
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import page_part

from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_ID

import json
import lxml.html
import transaction


class TestWhileRunning(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_the_processing_page(self):
        job = HeldJob(self, 40)
        self.assertEqual(job.reached(), "40")
        self.browser.open(f"{job.url}/processing?process_id={job.process_id}")
        page = self.browser.text
        self.assertEqual(self.browser.status, 200)
        self.assertEqual(
            self.browser.headers["Content-Type"].replace(" ", ""), "text/html;charset=utf-8"
        )
        self.assertEqual(self.browser.headers["Cache-Control"], "private, no-store")
        self.assertIn('id="portal-footer-wrapper"', page)  # inside Plone's main_template
        self.assertIn("<title>40% completed... — Progress — Plone site</title>", page)
        self.assertEqual(page_part(page, "title").text, "Progress")  # the job's, its view's name
        status = page_part(page, "status")
        self.assertEqual(status.text, "40% completed...")
        self.assertEqual((status.get("aria-live"), status.get("role")), ("polite", "status"))
        bar = page_part(page, "bar")  # Bootstrap's .progress, its .progress-bar the fill
        self.assertEqual(
            [bar.get(name) for name in ("role", "aria-valuenow", "aria-valuemin", "aria-valuemax", "hidden")],
            ["progressbar", "40", "0", "100", None],
        )
        self.assertEqual(page_part(page, "fill").get("style"), "width: 40%")
        self.assertEqual(page_part(page, "percent").text, "40%")
        self.assertEqual(page_part(page, "spinner").get("hidden"), "hidden")
        self.assertTrue(page_part(page, "elapsed").text.startswith("Elapsed: 0:0"))
        self.assertTrue(page_part(page, "remaining").text.startswith("About 0:"))
        self.assertEqual(page_part(page, "failed").get("hidden"), "hidden")
        self.assertIn("/++resource++netsight.async.js/processing.js", page)
        data = lxml.html.fromstring(page).get_element_by_id("netsight-async-processing").attrib
        self.assertEqual(
            data["data-poll-url"], f"{at_view(job.url)}/completed?process_id={job.process_id}&output_json=1"
        )
        self.assertEqual(data["data-result-url"], f"{at_view(job.url)}/result?process_id={job.process_id}")
        self.assertEqual(data["data-form-url"], at_view(job.url))
        self.assertEqual(
            (data["data-poll-start"], data["data-poll-growth"], data["data-poll-max"]),
            ("250", "1.5", "5000"),
        )
        self.assertIn('<noscript><meta http-equiv="refresh" content="5"', page)

    def test_completed_is_false_then_the_progress(self):
        job = HeldJob(self, 25)
        self.assertIn(job.poll()["completed"], (False, 25))
        self.assertEqual(job.reached(), "25")
        answer = job.poll()
        self.assertEqual(answer["completed"], 25)
        self.assertEqual(answer["progress"], 25)
        self.assertEqual(answer["progress_message"], "25% completed...")
        self.assertEqual(answer["state"], registry.RUNNING)
        self.browser.open(f"{job.url}/completed?process_id={job.process_id}")
        self.assertEqual(self.browser.text, "25")
        self.assertEqual(self.browser.headers["Content-Type"], "text/plain; charset=utf-8")

    def test_result_is_empty_while_running(self):
        job = HeldJob(self, 10)
        job.reached()
        self.browser.open(f"{job.url}/result?process_id={job.process_id}")
        self.assertEqual(self.browser.status, 204)
        self.assertEqual(self.browser.text, "")


class TestOnceDone(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_processing_redirects_to_the_result(self):
        url, process_id, answer = self.run_job("hello")
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 302)
        self.assertEqual(self.browser.headers["Location"], f"{at_view(url)}/result?process_id={process_id}")

    def test_completed_is_true(self):
        url, process_id, answer = self.run_job("hello")
        self.assertEqual(answer["completed"], True)
        self.assertEqual(answer["progress"], True)
        self.assertEqual(answer["state"], registry.DONE)
        self.browser.open(f"{url}/completed?process_id={process_id}")
        self.assertEqual(self.browser.text, "true")

    def test_the_result_is_fetched_once(self):
        url, process_id, answer = self.run_job("hello")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")
        self.assertIsNone(self.fresh_record(process_id).result)  # gone; the record stays to say so
        self.browser.result(url, process_id)
        self.assertEqual(self.browser.status, 410)
        self.assertEqual(self.browser.poll(url, process_id)["completed"], "ERROR")

    def test_the_pages_without_allowed_attributes_and_with(self):
        for view in ("own-template", "listed-attributes"):
            url, process_id, answer = self.run_job(view)
            self.assertEqual(answer["completed"], True, view)
            self.assertIn("Hello world", self.browser.result(url, process_id))


class TestBadRequests(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_missing_process_id_is_a_bad_request(self):
        for page in ("processing", "completed", "result", "completed?output_json=1"):
            self.browser.open(self.url(f"hello/{page}"))
            self.assertEqual(self.browser.status, 400, page)

    def test_unknown_and_malformed_ids_are_not_found(self):
        for process_id in (
            "0" * 32,
            "xyz",
            "../../etc/passwd",
            "é" * 32,
            "a" * 33,
            "0" * 32 + "&process_id=" + "1" * 32,
        ):
            for page in ("processing", "result", "completed"):
                self.browser.open(self.url(f"hello/{page}?process_id={process_id}"))
                self.assertIn(self.browser.status, (400, 404), (page, process_id))
                self.assertNotIn("Traceback", self.browser.text)
            answer = self.browser.poll(self.url("hello"), process_id)
            self.assertEqual(answer["completed"], "ERROR")

    def test_odd_output_json_values(self):
        url, process_id, answer = self.run_job("hello")
        for value, is_json in (("1", True), ("yes", True), ("0", False), ("", False), ("false", False)):
            self.browser.open(f"{url}/completed?process_id={process_id}&output_json={value}")
            self.assertEqual(self.browser.text.startswith("{"), is_json, value)


class TestPermission(JobTestCase):
    """The status pages answer with the permission of the view itself."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_manager_only_view(self):
        owner = owner_browser(self.app, self.site_url)
        url = self.url("protected-hello")
        process_id = owner.start(url)
        self.assertEqual(owner.wait_for(url, process_id)["completed"], True)
        for browser in (self.browser, JobBrowser(self.app, self.site_url, user=None)):
            for page in ("processing", "completed", "result"):
                browser.open(f"{url}/{page}?process_id={process_id}")
                self.assertIn(browser.status, (302, 401, 403), page)
                self.assertNotIn("Hello world!", browser.text)
        self.assertEqual(owner.result(url, process_id), "Hello world!")


class TestPollsNeverWrite(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_processing_and_completed_commit_nothing(self):
        job = HeldJob(self, 50)
        job.reached()
        storage = self.app._p_jar.db().storage
        status_pages = (
            f"{job.url}/completed?process_id={job.process_id}&output_json=1",
            f"{job.url}/completed?process_id={job.process_id}",
            f"{job.url}/processing?process_id={job.process_id}",
        )
        self.browser.open(status_pages[-1])  # Plone may write once on a first page view
        before = storage.lastTransaction()
        for page in status_pages * 3:
            self.browser.open(page)
            self.assertEqual(self.browser.status, 200)
        self.assertEqual(storage.lastTransaction(), before)


class TestUrls(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_an_item_named_like_the_view_hides_nothing(self):
        setRoles(self.portal, TEST_USER_ID, ["Manager"])
        self.portal.invokeFactory("Document", "hello", title="A page called hello")
        setRoles(self.portal, TEST_USER_ID, ["Member"])
        transaction.commit()
        url = self.url("@@hello")
        process_id = self.browser.start(url)  # asserts the 303 to @@hello/processing
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertIn(self.browser.status, (200, 302))  # the page, or done already
        self.assertEqual(self.browser.wait_for(url, process_id)["state"], registry.DONE)
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 302)
        location = self.browser.headers["Location"]
        self.assertEqual(location, f"{url}/result?process_id={process_id}")
        self.browser.open(location)
        self.assertEqual(self.browser.text, "Hello world!")

    def test_the_2011_urls_without_at_at_still_answer(self):
        url, process_id, answer = self.run_job("hello")  # polled at /plone/hello/completed
        self.assertEqual(answer["state"], registry.DONE)
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")


class TestHead(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_head_leaves_the_result_in_place(self):
        url, process_id, answer = self.run_job("response")
        head = self.browser.head(f"{url}/result?process_id={process_id}")
        self.assertEqual(head.status_int, 201)
        self.assertEqual(head.headers["Content-Type"], "text/csv; charset=utf-8")
        self.assertEqual(head.headers["Content-Length"], str(len(b"a,b\n1,2\n")))
        self.assertEqual(head.body, b"")
        self.assertIsNotNone(self.fresh_record(process_id))
        self.assertEqual(self.browser.result(url, process_id), "a,b\n1,2\n")
        self.assertEqual(self.browser.status, 201)

    def test_head_of_an_unknown_process(self):
        head = self.browser.head(self.url(f"hello/result?process_id={'0' * 32}"))
        self.assertEqual(head.status_int, 404)


class TestResultAsJson(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def result_json(self, url, process_id):
        self.browser.open(f"{url}/result?process_id={process_id}&output_json=1")
        self.assertEqual(self.browser.headers["Content-Type"], "application/json")
        return json.loads(self.browser.contents)

    def test_a_failed_process(self):
        url, process_id, answer = self.run_job("fails")
        answer = self.result_json(url, process_id)
        self.assertEqual(self.browser.status, 200)
        self.assertEqual((answer["completed"], answer["state"]), ("ERROR", registry.FAILED))
        self.assertEqual(answer["error"], "The process failed.")
        self.assertNotIn("Traceback", self.browser.text)

    def test_an_unknown_process(self):
        answer = self.result_json(self.url("hello"), "0" * 32)
        self.assertEqual(self.browser.status, 404)
        self.assertEqual((answer["completed"], answer["state"]), ("ERROR", "unknown"))

    def test_a_running_process(self):
        job = HeldJob(self, 30)
        job.reached()
        answer = self.result_json(job.url, job.process_id)
        self.assertEqual((answer["completed"], answer["state"]), (30, registry.RUNNING))

    def test_a_done_process_gives_its_result(self):
        url, process_id, answer = self.run_job("hello")
        self.browser.open(f"{url}/result?process_id={process_id}&output_json=1")
        self.assertEqual(self.browser.text, "Hello world!")


class TestUnknownProcessingPage(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_consumed_process_says_so_and_leads_back(self):
        url, process_id, answer = self.run_job("hello")
        self.browser.result(url, process_id)
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 410)
        page = self.browser.text
        self.assertIn("This result was already shown.", page)
        (back,) = page_part(page, "back").xpath("ancestor::form[1]")  # "Back to the form" posts to the form
        self.assertEqual((back.get("method"), back.get("action")), ("post", at_view(url)))
        self.assertNotIn("Traceback", page)


class TestExpectedAnswersAreNotErrors(JobTestCase):
    """An unknown id or a failed job is an answer, not an error.

    That nothing is logged is checked in a real instance's event log
    (test_quiet_log): the test layers' publisher feeds no site error log,
    so an error log read here stays empty whatever happens.
    """

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_the_answers(self):
        url, failed, answer = self.run_job("fails")
        for page in ("processing", "completed", "result"):
            for process_id, status in (("0" * 32, 404), (failed, 500)):
                self.browser.open(f"{url}/{page}?process_id={process_id}")
                self.assertEqual(self.browser.status, status, page)
                self.assertNotIn("Traceback", self.browser.text)
