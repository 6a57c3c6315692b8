"""``set_progress``: rounded, seen at once by other requests, never committing the job's work."""

from netsight.asynchronous import registry
from netsight.asynchronous.exceptions import NoSuchProcessError
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobTestCase
from zope.component import getMultiAdapter

import transaction
import unittest


class TestNormalizeProgress(unittest.TestCase):
    def test_rounded_to_one_decimal_and_int_when_whole(self):
        for given, stored in ((12.345, 12.3), (50, 50), (50.0, 50), (99.96, 100), (0, 0), (33.35, 33.4)):
            value = registry.normalize_progress(given)
            self.assertEqual(value, stored)
            self.assertIs(type(value), type(stored), given)

    def test_anything_but_a_percentage_is_refused(self):
        for bad in (-1, 100.1, "50", None, True, float("nan")):
            with self.assertRaises(ValueError, msg=bad):
                registry.normalize_progress(bad)


class TestProgress(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_each_reported_value_is_seen_by_polls_at_once(self):
        job = HeldJob(self, 12.345, 50, 99.96)
        for expected in (12.3, 50, 100):
            job.reached()
            answer = job.poll()
            self.assertEqual(answer["completed"], expected)
            self.assertEqual(answer["progress"], expected)
            job.go_on()
        self.assertEqual(job.reached(), "returning")

    def test_completed_only_once_run_returned_whatever_the_progress(self):
        # The 1.1.1 fix: progress 100 is not completion.
        job = HeldJob(self, 100)
        job.reached()
        job.go_on()
        self.assertEqual(job.reached(), "returning")
        answer = job.poll()
        self.assertEqual((answer["completed"], answer["state"]), (100, registry.RUNNING))
        self.browser.open(f"{job.url}/result?process_id={job.process_id}")
        self.assertEqual(self.browser.status, 204)
        # Done, it reads 100 as in 1.1.1 (the seed: "automatically set to
        # 100"); ``state`` tells it from a job that reported 100 itself.
        answer = job.finish()
        self.assertEqual((answer["completed"], answer["progress"], answer["state"]), (100, 100, registry.DONE))
        self.browser.open(f"{job.url}/completed?process_id={job.process_id}")
        self.assertEqual(self.browser.text, "100")
        self.assertEqual(self.fresh_record(job.process_id).progress, 100)

    def test_progress_never_commits_the_jobs_half_done_work(self):
        job = HeldJob(self, 30, work="half done")
        job.reached()
        self.assertEqual(self.fresh_record(job.process_id).progress, 30)
        self.assertFalse(hasattr(self.portal, "work_in_progress"))
        job.finish()
        transaction.begin()
        self.assertEqual(self.portal.work_in_progress, "half done")

    def test_without_numeric_progress_success_is_true(self):
        url, process_id, answer = self.run_job("hello")
        self.assertEqual((answer["completed"], answer["progress"]), (True, True))
        self.assertIs(self.fresh_record(process_id).progress, True)

    def test_set_progress_of_an_unknown_process(self):
        view = getMultiAdapter((self.portal, self.layer["request"]), name="hello")
        with self.assertRaises(NoSuchProcessError):
            view.set_progress("0" * 32, 10)
        with self.assertRaises(ValueError):
            view.set_progress("0" * 32, 1000)
