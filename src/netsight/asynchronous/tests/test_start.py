"""Starting a process: its id, its record, its redirect, and when the worker starts."""

from netsight.asynchronous import registry
from netsight.asynchronous import startcommit
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import worker_threads
from netsight.asynchronous.tests.helpers.views import FailsAfterStarting
from plone.app.testing import TEST_USER_ID

from unittest import mock
from ZODB.POSException import StorageError

import json
import time
import uuid


class TestStart(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_post_starts_a_process_with_a_uuid7_hex_id(self):
        before = int(time.time() * 1000)
        first = self.browser.start(self.url("hello"))  # asserts the 303 to processing
        second = self.browser.start(self.url("hello"))
        for process_id in (first, second):
            self.assertEqual(uuid.UUID(process_id).hex, process_id)
            self.assertEqual(uuid.UUID(process_id).version, 7)
            self.assertEqual(uuid.UUID(process_id).variant, uuid.RFC_4122)
            self.assertGreaterEqual(int(process_id[:12], 16), before)  # its time, in milliseconds
        self.assertNotEqual(first, second)
        self.assertLessEqual(first[:12], second[:12])  # ordered by the time of the start

    def test_the_record_is_committed_with_the_start(self):
        url = self.url("hello")
        process_id = self.browser.start(url)
        record = self.fresh_record(process_id)
        self.assertEqual(record.view_name, "hello")
        self.assertEqual(record.context_path, "/plone")
        self.assertEqual(record.owner, TEST_USER_ID)
        self.assertIn(record.state, (registry.QUEUED, registry.RUNNING, registry.DONE))
        self.browser.wait_for(url, process_id)

    def test_each_start_is_a_new_process(self):
        url = self.url("hello")
        first, second = self.browser.start(url), self.browser.start(url)
        self.assertNotEqual(first, second)
        for process_id in (first, second):
            answer = self.browser.wait_for(url, process_id)
            self.assertEqual(answer["state"], "done", answer)
            self.assertEqual(self.browser.result(url, process_id), "Hello world!", answer)

    def test_missing_arguments_of_run_are_a_bad_request_and_start_nothing(self):
        self.browser.post(self.url("arguments"), f"_authenticator={self.browser.token}")
        self.assertEqual(self.browser.status, 400)
        self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))



class TestRecordNotAdded(JobTestCase):
    """A record that cannot be added after its request committed (startcommit.py): the answer says so, nothing runs."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def failing_storage(self):
        """The record's own transaction meets a storage error (a full disk, say): a fault put at that seam."""
        patcher = mock.patch.object(startcommit, "_add", side_effect=StorageError("No space left on device"))
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_a_browser_gets_a_503_with_retry_after_and_no_redirect(self):
        self.failing_storage()
        with self.assertLogs("netsight.async", "ERROR") as logged:
            self.browser.post(self.url("hello"), f"_authenticator={self.browser.token}")
        self.assertEqual(self.browser.status, 503)
        self.assertEqual(self.browser.headers["Retry-After"], str(startcommit.RETRY_AFTER))
        self.assertNotIn("Location", self.browser.headers)
        self.assertEqual(self.browser.contents, startcommit.NOT_ADDED)
        self.assertIn("could not be added", logged.output[0])
        self.assertIn("No space left on device", logged.output[0])
        self.assertEqual(worker_threads(), [])
        self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))

    def test_a_script_gets_a_503_in_json(self):
        self.failing_storage()
        self.browser.addHeader("Accept", "application/json")
        with self.assertLogs("netsight.async", "ERROR"):
            self.browser.post(self.url("hello"), f"_authenticator={self.browser.token}")
        self.assertEqual(self.browser.status, 503)
        self.assertEqual(json.loads(self.browser.contents), {"error": startcommit.NOT_ADDED})
        self.assertNotIn("Location", self.browser.headers)


class TestStartsAfterCommit(JobTestCase):
    """The worker starts only once the starting transaction has committed."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_no_worker_and_no_record_if_the_starting_request_fails(self):
        self.browser.post(
            self.url("fails-after-starting"), f"fail=1&_authenticator={self.browser.token}"
        )
        self.assertEqual(self.browser.status, 500)
        # A worker would have been started during the request: it would be
        # running now, or it would have run the job.
        self.assertEqual(worker_threads(), [])
        self.assertEqual(FailsAfterStarting.ran, [])
        self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))

    def test_the_worker_runs_once_the_start_committed(self):
        url, process_id, answer = self.run_job("fails-after-starting")
        self.assertEqual(answer["completed"], True)
        self.assertEqual(FailsAfterStarting.ran, [process_id])
        del FailsAfterStarting.ran[:]
