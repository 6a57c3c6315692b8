"""What the processing page and its JSON tell the user: progress, message, times, failure."""

from netsight.asynchronous import owners
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import at_view
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import page_part


XSS = "<img src=x onerror=alert(1)>"


class TestProgressPage(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def processing_page(self, job):
        self.browser.open(f"{job.url}/processing?process_id={job.process_id}")
        return self.browser.text

    def test_the_jobs_message_on_the_page_and_in_the_json(self):
        job = HeldJob(self, 40, 60, 80, messages=["Imported 400 of 1000 rows", "Imported 600 of 1000 rows"])
        job.reached()
        self.assertEqual(job.poll()["message"], "Imported 400 of 1000 rows")
        self.assertEqual(page_part(self.processing_page(job), "message").text, "Imported 400 of 1000 rows")
        job.go_on()
        job.reached()
        self.assertEqual(job.poll()["message"], "Imported 600 of 1000 rows")
        job.go_on()
        job.reached()
        # set_progress(process_id, 80), the 2011 call, leaves the message as it was
        answer = job.poll()
        self.assertEqual((answer["completed"], answer["message"]), (80, "Imported 600 of 1000 rows"))

    def test_a_message_is_text_never_html(self):
        job = HeldJob(self, 10, messages=[XSS])
        job.reached()
        page = self.processing_page(job)
        self.assertEqual(page_part(page, "message").text, XSS)
        self.assertNotIn(XSS, page)
        self.assertEqual(job.poll()["message"], XSS)

    def test_elapsed_and_remaining_time(self):
        job = HeldJob(self, 25)
        job.reached()
        answer = job.poll()
        self.assertGreaterEqual(answer["elapsed"], 0)
        # a quarter done: three times the elapsed time is left
        self.assertAlmostEqual(answer["remaining"], 3 * answer["elapsed"], delta=0.5)

    def test_no_estimate_without_numeric_progress(self):
        job = HeldJob(self)  # reports no progress, then waits before returning
        self.assertEqual(job.reached(), "returning")
        answer = job.poll()
        self.assertEqual((answer["completed"], answer["remaining"]), (False, None))
        page = self.processing_page(job)
        self.assertEqual(page_part(page, "bar").get("hidden"), "hidden")
        self.assertIsNone(page_part(page, "spinner").get("hidden"))
        self.assertEqual(page_part(page, "status").text, "Processing...")


class TestFailurePage(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def failed_job(self, browser):
        url = self.url("fails")
        process_id = browser.start(url)
        self.assertEqual(browser.wait_for(url, process_id)["completed"], "ERROR")
        return url, process_id

    def test_the_page_says_the_process_failed_and_links_back(self):
        url, process_id = self.failed_job(self.browser)
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 500)
        page = self.browser.text
        self.assertIsNone(page_part(page, "failed").get("hidden"))
        self.assertEqual(page_part(page, "running").get("hidden"), "hidden")
        self.assertIn("The process failed.", page)
        (back,) = page_part(page, "back").xpath("ancestor::form[1]")  # "Back to the form" posts to the form
        self.assertEqual(back.get("action"), at_view(url))
        self.assertIn('id="portal-footer-wrapper"', page)  # a Plone page
        self.assertIn("<title>The process failed. — Fails — Plone site</title>", page)
        self.assertNotIn("ValueError", page)
        self.assertNotIn("Traceback", page)
        answer = self.browser.poll(url, process_id)
        self.assertEqual((answer["completed"], answer["error"]), ("ERROR", "The process failed."))
        self.assertNotIn("error_detail", answer)

    def test_only_an_ended_jobs_poll_asks_whether_the_requester_manages(self):
        """Managing the site tells only what a job that ended without a result
        says (``error_detail``): a poll of a running job asks no role."""
        asked = []
        is_manager = owners.is_manager
        owners.is_manager = lambda request, site: asked.append(site) or is_manager(request, site)
        self.addCleanup(setattr, owners, "is_manager", is_manager)
        job = HeldJob(self, 10)
        job.reached()
        self.assertEqual(job.poll()["state"], "running")
        self.assertEqual(asked, [])
        url, process_id = self.failed_job(self.browser)
        self.assertNotIn("error_detail", self.browser.poll(url, process_id))
        self.assertNotEqual(asked, [])
        job.finish()

    def test_managers_see_the_error(self):
        owner = owner_browser(self.app, self.site_url)
        url, process_id = self.failed_job(owner)
        detail = "ValueError: the import file is broken"
        self.assertEqual(owner.poll(url, process_id)["error_detail"], detail)
        owner.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(page_part(owner.text, "error-detail").text, detail)
        self.assertNotIn("Traceback", owner.text)

    def test_in_the_users_language(self):
        self.browse_in("de")
        url, process_id = self.failed_job(self.browser)
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertIn("Der Prozess ist fehlgeschlagen.", self.browser.text)
        self.assertEqual(page_part(self.browser.text, "back").text, "Zurück zum Formular")
        self.assertEqual(self.browser.poll(url, process_id)["error"], "Der Prozess ist fehlgeschlagen.")
