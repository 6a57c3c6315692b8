"""A job that raises, conflicts or writes: what is committed and what the browser sees."""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.base import JobTestCase
from zope.testing.loggingsupport import InstalledHandler
from ZPublisher.HTTPRequest import HTTPRequest

import transaction


class TestAJobThatRaises(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.log = InstalledHandler("netsight.async")
        self.addCleanup(self.log.uninstall)
        self.job_url, self.process_id, self.answer = self.run_job("fails")

    def test_polls_answer_error(self):
        self.assertEqual(self.answer["completed"], "ERROR")
        self.assertEqual(self.answer["progress"], "ERROR")
        self.assertEqual(self.answer["state"], registry.FAILED)

    def test_the_pages_answer_500_without_a_traceback(self):
        for page in ("processing", "completed", "result"):
            self.browser.open(f"{self.job_url}/{page}?process_id={self.process_id}")
            self.assertEqual(self.browser.status, 500, page)
            self.assertNotIn("Traceback", self.browser.text)
            self.assertNotIn("the import file is broken", self.browser.text)

    def test_its_work_is_not_committed(self):
        transaction.begin()
        self.assertFalse(hasattr(self.portal, "written_by_failed_job"))

    def test_the_error_is_recorded_and_logged_with_the_process_id(self):
        record = self.fresh_record(self.process_id)
        self.assertEqual(record.error, "ValueError: the import file is broken")
        (entry,) = [r for r in self.log.records if r.levelname == "ERROR"]
        message = entry.getMessage()
        self.assertIn(self.process_id, message)
        self.assertIn("Traceback", message)
        self.assertIn("ValueError: the import file is broken", message)


class TestCommits(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_jobs_writes_are_committed(self):
        url, process_id, answer = self.run_job("writes", value="from the job")
        self.assertEqual(answer["completed"], True)
        transaction.begin()
        self.assertEqual(self.portal.written_by_job, "from the job")

    def test_a_conflict_error_is_retried_as_zope_retries_a_request(self):
        # The layer retries as an instance does (max-conflict-retries: 3).
        url, process_id, answer = self.run_job("conflicts-once")
        self.assertEqual(answer["completed"], True)
        self.assertEqual(self.browser.result(url, process_id), "attempt 2")

    def test_a_conflict_error_fails_the_job_once_retries_are_exhausted(self):
        self.addCleanup(setattr, HTTPRequest, "retry_max_count", HTTPRequest.retry_max_count)
        HTTPRequest.retry_max_count = 0
        url, process_id, answer = self.run_job("conflicts-once")
        self.assertEqual(answer["completed"], "ERROR")
        self.assertIn("ConflictError", self.fresh_record(process_id).error)
