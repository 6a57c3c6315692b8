"""A job that raises, conflicts or writes: what is committed and what the browser sees."""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from zope.testing.loggingsupport import InstalledHandler
from ZPublisher.HTTPRequest import HTTPRequest

import transaction


class LoggedJobTestCase(JobTestCase):
    """A job test that captures the add-on's log (``self.log``)."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.log = InstalledHandler("netsight.async")
        self.addCleanup(self.log.uninstall)


class TestAJobThatRaises(LoggedJobTestCase):
    def setUp(self):
        super().setUp()
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


class TestWorkCommittedIsNeverDoneTwice(LoggedJobTestCase):
    """On a ConflictError Zope publishes the request again from the start:
    a job that committed work of its own would repeat it."""

    def batches(self):
        transaction.begin()
        return getattr(self.portal, "batches_committed", 0)

    def test_a_conflict_after_a_commit_fails_the_job(self):
        url, process_id, answer = self.run_job("commits-then-conflicts")
        self.assertEqual((answer["state"], answer["completed"]), (registry.FAILED, "ERROR"))
        self.assertEqual(self.batches(), 1)
        error = self.fresh_record(process_id).error
        self.assertIn("ConflictError after the job had committed work of its own", error)
        self.assertIn("retry_after_commit", error)

    def test_unless_the_view_says_it_may_run_again(self):
        url, process_id, answer = self.run_job("commits-then-conflicts-retried")
        self.assertEqual(answer["state"], registry.DONE)
        self.assertEqual(self.batches(), 2)  # declared safe: run again, committed again
        # What the first attempt streamed is not in the result.
        self.assertEqual(self.browser.result(url, process_id), "batch of attempt 2\nall batches")

    def test_output_streamed_before_a_retry_appears_once(self):
        url, process_id, answer = self.run_job("streams-then-conflicts")
        self.assertEqual(answer["state"], registry.DONE)
        self.assertEqual(self.browser.result(url, process_id), "streamed by attempt 2\nend\n")


class TestAJobThatEndsItsThread(LoggedJobTestCase):
    """SystemExit, KeyboardInterrupt: whatever ends the job without a result fails it, at once."""

    def test_sys_exit(self):
        url, process_id, answer = self.run_job("exits")
        self.assertEqual((answer["state"], answer["completed"]), (registry.FAILED, "ERROR"))
        self.assertIn("SystemExit: 3", self.fresh_record(process_id).error)

    def test_keyboard_interrupt(self):
        url, process_id, answer = self.run_job("exits", kind="interrupt")
        self.assertEqual(answer["state"], registry.FAILED)
        self.assertIn("KeyboardInterrupt", self.fresh_record(process_id).error)


class TestARedirectRaised(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_the_result_is_the_redirect(self):
        url, process_id, answer = self.run_job("raises-redirect")
        self.assertEqual(answer["state"], registry.DONE, self.fresh_record(process_id).error)
        self.browser.result(url, process_id)
        self.assertEqual(self.browser.status, 302)
        self.assertEqual(self.browser.headers["Location"], f"{self.site_url}/done")
        # As Zope's publisher does with a raised redirect: the transaction is aborted.
        transaction.begin()
        self.assertFalse(hasattr(self.portal, "written_before_redirect"))
