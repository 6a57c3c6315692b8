"""The tutorial's test: a folder's listing as CSV, from the POST to the download."""

from netsight.asynchronous.testing import JobsFunctionalTesting
from plone.app.testing import PLONE_FIXTURE
from plone.app.testing import PloneSandboxLayer
from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_ID
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD
from plone.testing.zope import Browser
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlparse

import importlib
import json
import time
import transaction
import unittest


class ExportLayer(PloneSandboxLayer):
    defaultBases = (PLONE_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        # This package's configure.zcml, which includes netsight.async.
        self.loadZCML(package=importlib.import_module(__package__))

    def setUpPloneSite(self, portal):
        self.applyProfile(portal, "netsight.async:default")


EXPORT_FIXTURE = ExportLayer()
# Not plone.app.testing's FunctionalTesting: this one closes each test's
# database only once the jobs' threads have let go of it.
EXPORT_FUNCTIONAL_TESTING = JobsFunctionalTesting(
    bases=(EXPORT_FIXTURE,), name="Export:Functional"
)


class TestExport(unittest.TestCase):
    layer = EXPORT_FUNCTIONAL_TESTING

    def setUp(self):
        portal = self.layer["portal"]
        setRoles(portal, TEST_USER_ID, ["Manager"])
        portal.invokeFactory("Folder", "reports", title="Reports")
        for number in range(3):
            portal.reports.invokeFactory(
                "Document", f"doc{number}", title=f"Document {number}"
            )
        transaction.commit()  # the job's thread sees what is committed only
        self.view_url = f"{portal.reports.absolute_url()}/@@export-listing"
        self.browser = Browser(self.layer["app"])
        self.browser.handleErrors = False
        self.browser.addHeader(
            "Authorization", f"Basic {TEST_USER_NAME}:{TEST_USER_PASSWORD}"
        )

    def test_the_listing_as_csv(self):
        browser = self.browser
        browser.open(self.view_url)  # the form, with plone.protect's token
        token = browser.getControl(name="_authenticator").value
        browser.followRedirects = False
        form = {"delimiter": "semicolon", "_authenticator": token}
        browser.post(self.view_url, urlencode(form))
        self.assertEqual(browser.headers["Status"], "303 See Other")
        location = browser.headers["Location"]
        self.assertTrue(location.startswith(f"{self.view_url}/processing?process_id="))
        (process_id,) = parse_qs(urlparse(location).query)["process_id"]

        deadline = time.monotonic() + 60
        while True:  # poll as the processing page does
            browser.open(
                f"{self.view_url}/completed?output_json=1&process_id={process_id}"
            )
            status = json.loads(browser.contents)
            if status["state"] not in ("queued", "running"):
                break
            self.assertLess(time.monotonic(), deadline, f"still {status['state']}")
            time.sleep(0.05)
        self.assertEqual(status["state"], "done")
        self.assertEqual(status["progress"], 100)
        self.assertEqual(status["message"], "Exported 3 of 3 items")

        browser.open(f"{self.view_url}/result?process_id={process_id}")
        self.assertEqual(browser.headers["Content-Type"], "text/csv; charset=utf-8")
        lines = browser.contents.splitlines()
        self.assertEqual(lines[0], "Title;URL;Type;State;Modified")
        titles = [line.split(";")[0] for line in lines[1:]]
        self.assertEqual(titles, ["Document 0", "Document 1", "Document 2"])
