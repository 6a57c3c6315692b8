"""What an operator reads in the log of a retried job: a warning with its traceback for each failed attempt, and an error once the last failed."""

from netsight.asynchronous.tests.test_retries import RetriesTestCase

import logging


class TestRetryLogs(RetriesTestCase):

    def failures(self, fail_times, retries):
        """Run a chain; the netsight.async log records of its failures, as ``(level, attempt's process id)``."""
        with self.assertLogs("netsight.async", "INFO") as logs:
            url, first, _token = self.start(fail_times=fail_times, retries=retries)
            answers = self.chain(url, first)
        return answers, [
            record for record in logs.records if record.levelno >= logging.WARNING and "Process" in record.getMessage()
        ]

    def test_a_retried_attempt_warns_and_the_last_failure_is_an_error(self):
        answers, records = self.failures(fail_times="10", retries="1")
        first, last = (answer["process_id"] for answer in answers)
        self.assertEqual([answer["state"] for answer in answers], ["failed", "failed"])
        warned = [r for r in records if r.levelno == logging.WARNING]
        errors = [r for r in records if r.levelno >= logging.ERROR]
        # Each attempt's failure, with its traceback: a warning that promises no retry (the last one gets none).
        self.assertEqual([(first in r.getMessage(), last in r.getMessage()) for r in warned], [(True, False), (False, True)])
        self.assertTrue(all("Traceback" in r.getMessage() for r in warned))
        self.assertTrue(all("the next entry says whether one is" in r.getMessage() for r in warned))
        # The last attempt's: an error, which says why.
        (error,) = errors
        self.assertEqual(error.getMessage(), f"Process {last} failed on its last attempt (2 of 2): Flaky: run 2 failed")

    def test_a_job_done_on_its_retry_logs_no_error(self):
        answers, records = self.failures(fail_times="1", retries="2")
        self.assertEqual([answer["state"] for answer in answers], ["failed", "done"])
        self.assertEqual([r.levelname for r in records], ["WARNING"])
