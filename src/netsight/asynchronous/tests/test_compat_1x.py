"""Code written for 1.x runs as it did on 1.1.1: its own ``__call__`` with
``_run()``, ``publishTraverse`` handing out bound methods, 100 at the end,
its own processing page, ``initial_page = None``."""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.views import LegacyExport
from urllib.parse import urlencode

import json


class TestARealOneXClient(JobTestCase):
    """A zip export as a 2018 application wrote it on 1.1.1, driven as its script does."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_from_the_post_to_the_download(self):
        url = self.url("legacy-export")
        self.browser.post(url, urlencode({"_authenticator": self.browser.token}))
        self.assertEqual(self.browser.status, 200)
        self.assertEqual(self.browser.headers["Content-Type"], "application/json")
        process_id = json.loads(self.browser.contents)["process_id"]

        def poll():  # every half second in the application's script
            self.browser.open(f"{url}/completed?process_id={process_id}&output_json=true")
            answer = json.loads(self.browser.contents)
            return answer if answer["progress"] == 100 else None

        answer = wait_until(poll, what="progress 100")
        self.assertEqual((answer["completed"], answer["state"]), (100, registry.DONE))
        self.browser.open(f"{url}/download?process_id={process_id}")
        self.assertEqual(self.browser.status, 200)
        self.assertEqual(self.browser.contents, b"PK\x03\x04 the zip of " + process_id.encode())
        # The job ran once: its request did not go through __call__ again.
        self.assertEqual(LegacyExport.runs.count(process_id), 1)
        self.assertIsNone(self.fresh_record(process_id).result)  # shown once: gone
        self.browser.open(f"{url}/download?process_id={process_id}")
        self.assertEqual(self.browser.status, 410)  # its owner is told that it was shown

    def test_run_needs_the_token_of_a_logged_in_user(self):
        self.browser.post(self.url("legacy-export"), "")
        self.assertEqual(self.browser.status, 403)
        self.assertFalse(self.app._p_jar.root().get(registry.ROOT_KEY))


class TestOneXOverrides(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_processing_page_method_taking_process_id(self):
        job = HeldJob(self, 40, view="own-processing-method")
        job.reached()
        self.browser.open(f"{job.url}/processing?process_id={job.process_id}")
        self.assertEqual(self.browser.status, 200)
        self.assertEqual(self.browser.text, f"Our own page for {job.process_id}")

    def test_a_processing_page_template(self):
        job = HeldJob(self, 40, view="own-processing-template")
        job.reached()
        self.browser.open(f"{job.url}/processing?process_id={job.process_id}")
        self.assertEqual(self.browser.status, 200)
        self.assertIn(f"Our own template for {job.process_id}", self.browser.text)

    def test_initial_page_none_is_the_zcml_template(self):
        self.browser.open(self.url("initial-page-none"))
        self.assertEqual(self.browser.status, 200)
        self.assertIn('<p id="message">no message</p>', self.browser.text)
