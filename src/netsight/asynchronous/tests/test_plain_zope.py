"""netsight.async in plain Zope: no Plone, no main_template, no CSRF token."""

from netsight.asynchronous.testing import NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.testing import ZOPE_MANAGER_NAME
from netsight.asynchronous.testing import ZOPE_MANAGER_PASSWORD

import json


class TestPlainZope(JobTestCase):
    layer = NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.browser = JobBrowser(self.app, self.site_url, ZOPE_MANAGER_NAME, ZOPE_MANAGER_PASSWORD)

    def test_the_whole_journey(self):
        url, process_id, answer = self.run_job("hello")
        self.assertEqual(answer["completed"], True)
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")

    def test_the_standalone_processing_page(self):
        job = HeldJob(self, 60)
        job.reached()
        self.browser.open(f"{job.url}/processing?process_id={job.process_id}")
        page = self.browser.text
        self.assertEqual(self.browser.status, 200)
        self.assertTrue(page.startswith("<!DOCTYPE html>"), page[:100])
        self.assertIn("<title>60% completed... — Progress</title>", page)  # the job's title: its view's name
        self.assertEqual(page_part(page, "status").text, "60% completed...")
        self.assertIn("/++resource++netsight.async.js/processing.js", page)

    def test_the_job_sees_the_same_user(self):
        url, process_id, answer = self.run_job("echo", note="plain")
        seen = json.loads(self.browser.result(url, process_id))
        self.assertEqual(seen["user"], ZOPE_MANAGER_NAME)
        self.assertIn("Manager", seen["roles"])
        self.assertEqual(seen["kwargs"], {"note": "plain"})
        self.assertTrue(seen["globalrequest"])
