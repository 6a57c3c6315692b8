"""The demo site answers a Member's ``@async-processes``: its profile installs plone.restapi."""

from netsight.asyncdemo.testing import NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import wait_until
from Products.GenericSetup.tool import UNKNOWN

import json
import unittest


class TestMembersCallTheRestAPI(unittest.TestCase):
    layer = NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.site_url = self.portal.absolute_url()
        self.browser = JobBrowser(self.layer["app"], self.site_url)  # a Member

    def test_plone_restapi_is_installed(self):
        setup = self.portal.portal_setup
        self.assertNotEqual(setup.getLastVersionForProfile("plone.restapi:default"), UNKNOWN)

    def test_a_member_lists_its_processes(self):
        url = f"{self.site_url}/fibonacci"
        self.browser.open(url)
        token = self.browser.getControl(name="_authenticator").value
        process_id = self.browser.start(url, n="30", seconds="0", _authenticator=token)
        wait_until(lambda: self.browser.poll(url, process_id)["state"] == "done", what=f"process {process_id}")
        self.browser.addHeader("Accept", "application/json")
        self.browser.open(f"{self.site_url}/@async-processes")
        self.assertEqual(self.browser.status, 200)
        self.assertTrue(self.browser.headers["Content-Type"].startswith("application/json"))
        answer = json.loads(self.browser.contents)
        self.assertEqual(answer["items_total"], 1, answer)
        (item,) = answer["items"]
        self.assertEqual(item["process_id"], process_id)
        self.assertEqual(item["state"], "done")
        self.browser.open(f"{self.site_url}/@async-processes/{process_id}")
        self.assertEqual(self.browser.status, 200)
        self.assertEqual(json.loads(self.browser.contents)["state"], "done")
