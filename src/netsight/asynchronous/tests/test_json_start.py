"""A script starts a job with ``Accept: application/json``: 202 Accepted and the URLs to follow."""

from urllib.parse import urlencode

from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import wait_until

import json


class TestJSONStart(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def post_json(self, view, **form):
        browser = self.browser
        browser.addHeader("Accept", "application/json")
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        browser.post(self.url(view), urlencode(form))
        self.assertEqual(browser.headers["Content-Type"], "application/json")
        return browser.status, json.loads(browser.contents)

    def test_202_with_the_urls_to_follow(self):
        status, answer = self.post_json("hello", _authenticator=self.browser.token)
        self.assertEqual(status, 202)
        process_id = answer["process_id"]
        at_view = f"{self.site_url}/@@hello"
        self.assertEqual(answer["status_url"], f"{at_view}/completed?process_id={process_id}&output_json=1")
        self.assertEqual(answer["result_url"], f"{at_view}/result?process_id={process_id}")
        self.assertEqual(self.browser.headers["Location"], answer["status_url"])

        def done():
            self.browser.open(answer["status_url"])
            return json.loads(self.browser.contents)["state"] == "done"

        wait_until(done, what=f"process {process_id}")
        self.browser.open(answer["result_url"])
        self.assertEqual(self.browser.contents, "Hello world!")

    def test_without_the_token_403_in_json(self):
        status, answer = self.post_json("hello")
        self.assertEqual(status, 403)
        self.assertIn("CSRF", answer["error"])

    def test_a_missing_argument_400_in_json(self):
        status, answer = self.post_json("arguments", _authenticator=self.browser.token)
        self.assertEqual(status, 400)
        self.assertIn("Missing from the form", answer["error"])
