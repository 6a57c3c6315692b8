"""The page's resources: the polling script and the spinner."""

from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase


class TestResources(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def get(self, name):
        self.browser.open(f"{self.site_url}/++resource++{name}")
        self.assertEqual(self.browser.status, 200, name)
        return self.browser.headers["Content-Type"]

    def test_the_polling_script(self):
        self.assertIn("javascript", self.get("netsight.async.js/processing.js"))
        script = self.browser.text
        self.assertIn("fetch(", script)
        self.assertIn(".textContent", script)
        self.assertNotIn("jQuery", script)
        self.assertNotIn("innerHTML", script)

    def test_the_spinner_as_gif_and_svg(self):
        self.assertEqual(self.get("netsight.async.images/spinner.gif"), "image/gif")
        self.assertTrue(self.browser.contents.startswith(b"GIF89a"))
        self.assertEqual(self.get("netsight.async.images/spinner.svg"), "image/svg+xml")
