from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.base import JobBrowser

import unittest


class TestSmoke(unittest.TestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_hello(self):
        app = self.layer["app"]
        portal = self.layer["portal"]
        browser = JobBrowser(app, portal.absolute_url())
        url = portal.absolute_url() + "/hello"
        pid = browser.start(url)
        answer = browser.wait_for(url, pid)
        self.assertEqual(answer["completed"], True, answer)
        self.assertEqual(browser.result(url, pid), "Hello world!")
