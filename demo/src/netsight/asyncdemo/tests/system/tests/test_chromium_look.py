"""The demo as a newcomer sees it, in Debian's Chromium: the Fibonacci form
and its processing page in Plone's Barceloneta theme, on http://127.0.0.1.

Plone leaves 127.0.0.1 unthemed by default (a bare list of links); the
demo's profile (registry.xml) themes it, and the test site has that profile.
The job is the demo's own: F(100), which reports each percent and then waits
for the test (``Steps``), so that the page shows the progress the test chose.

The README's screenshots of the demo are tools/screenshots.py's.
"""

from netsight.asyncdemo.fibonacci import Fibonacci
from netsight.asyncdemo.testing import NETSIGHT_ASYNCDEMO_CHROMIUM_TESTING
from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.tests.helpers.base import DEADLINE
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.chromium import ChromiumBrowserLayer
from netsight.asynchronous.tests.helpers.chromium import new_context
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL
from netsight.asynchronous.tests.helpers.chromium import TIMEOUT
from playwright.sync_api import expect
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.registry.interfaces import IRegistry
from unittest import mock
from urllib.parse import urlsplit
from zope.component import getUtility

import re
import threading
import transaction
import unittest


UNTHEMED_HOSTS = "plone.app.theming.interfaces.IThemeSettings.hostnameBlacklist"
F_100 = "354224848179261915075"

# Chromium on top of the demo's test server (one browser for the layer).
DEMO_CHROMIUM = ChromiumBrowserLayer(bases=(NETSIGHT_ASYNCDEMO_CHROMIUM_TESTING,), name="NetsightAsyncDemo:ChromiumBrowser")

# How the page looks, as the browser computed it: Barceloneta's stylesheet
# (its header, the Bootstrap bar) or none of it.
LOOK = """() => {
  const box = (selector) => {
    const node = document.querySelector(selector);
    if (!node) {
      return null;
    }
    const rect = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    return { width: rect.width, height: rect.height, background: style.backgroundColor, display: style.display };
  };
  return {
    stylesheets: [...document.styleSheets].map((sheet) => sheet.href || "").filter((href) => href.includes("barceloneta")),
    header: box("header#content-header"), // Barceloneta's index.html, not main_template's #portal-header
    logo: box("#content-header #portal-logo"),
    track: box(".progress.netsight-async-bar"),
    fill: box(".progress-bar.netsight-async-fill"),
    spinner: box(".spinner-border.netsight-async-spinner"),
  };
}"""

# The bar's rendered width, a share of its track's (it moves by a CSS transition).
FILL_SHARE = """(share) => {
  const track = document.querySelector(".progress.netsight-async-bar").getBoundingClientRect();
  const fill = document.querySelector(".progress-bar.netsight-async-fill").getBoundingClientRect();
  return track.width > 0 && Math.abs(fill.width / track.width - share) < 0.01;
}"""

TRANSPARENT = ("rgba(0, 0, 0, 0)", "transparent")


class Steps:
    """Fibonacci's pause after each percent, held until the test allows it."""

    def __init__(self):
        self.allowed = threading.Semaphore(0)
        self.free = False

    def pause(self, view):
        if not self.free:
            self.allowed.acquire(timeout=DEADLINE)

    def allow(self, count):
        self.allowed.release(count)

    def finish(self):
        self.free = True
        self.allowed.release()


class TestTheDemosLook(unittest.TestCase):
    layer = DEMO_CHROMIUM

    def setUp(self):
        self.steps = Steps()
        patcher = mock.patch.object(Fibonacci, "pause", lambda view: self.steps.pause(view))
        patcher.start()
        self.addCleanup(patcher.stop)  # run last: the job ended
        self.addCleanup(join_workers)
        self.addCleanup(self.steps.finish)
        portal = self.layer["portal"]
        self.site_url = chromium_server_url(self.layer) + "/".join(portal.getPhysicalPath())
        self.registry = getUtility(IRegistry, context=portal)

    def new_page(self, **options):
        """A page logged in as the site's owner (the demo's admin)."""
        context = new_context(self.layer["browser"], user=SITE_OWNER_NAME, password=SITE_OWNER_PASSWORD, **options)
        self.addCleanup(context.close)
        context.set_default_timeout(TIMEOUT)
        return context.new_page()

    def look(self, page):
        return page.evaluate(LOOK)

    def assert_themed(self, page):
        look = self.look(page)
        self.assertTrue(look["stylesheets"], "no Barceloneta stylesheet")
        for part in ("header", "logo"):
            self.assertIsNotNone(look[part], f"no {part}")
            self.assertGreater(look[part]["height"], 0, part)
        expect(page.locator("#content-header #portal-logo")).to_be_visible()
        return look

    def start(self, page, n):
        """Ask for F(n) on the demo's form, as a newcomer does."""
        page.goto(f"{self.site_url}/fibonacci")
        self.assert_themed(page)
        page.get_by_label("N", exact=True).fill(str(n))
        page.get_by_role("button", name="Compute F(N)").click()
        page.wait_for_url(PROCESSING_URL)

    def test_the_host_is_one_plone_leaves_unthemed(self):
        """The test server is on 127.0.0.1; the demo's profile took it out of
        the unthemed hosts. Put back, the page is bare: what the look test
        tells apart."""
        self.assertEqual(urlsplit(self.site_url).hostname, "127.0.0.1")
        self.assertNotIn("127.0.0.1", self.registry[UNTHEMED_HOSTS])
        self.registry[UNTHEMED_HOSTS] = ["127.0.0.1"]  # Plone's default
        transaction.commit()
        page = self.new_page()
        page.goto(f"{self.site_url}/fibonacci")
        look = self.look(page)
        self.assertEqual(look["stylesheets"], [])
        self.assertIsNone(look["header"])
        self.assertIsNone(look["logo"])

    def test_the_processing_page_in_barceloneta(self):
        page = self.new_page(viewport={"width": 1024, "height": 720})
        self.start(page, 100)
        bar = page.get_by_role("progressbar", name="Progress", exact=True)
        fill = page.locator(".netsight-async-bar > .progress-bar")
        percent = page.locator(".netsight-async-percent")
        # The job waits after its first percent.
        expect(bar).to_be_visible(timeout=TIMEOUT)
        expect(bar).to_have_attribute("aria-valuenow", "1", timeout=TIMEOUT)
        expect(bar).to_have_attribute("aria-valuemin", "0")
        expect(bar).to_have_attribute("aria-valuemax", "100")
        expect(page.locator(".netsight-async-spinner")).to_be_hidden()
        look = self.assert_themed(page)
        self.assertEqual(look["track"]["display"], "flex", look)  # Bootstrap's .progress
        self.assertGreater(look["track"]["height"], 0, look)
        self.assertNotIn(look["track"]["background"], TRANSPARENT, look)
        self.assertGreater(look["fill"]["height"], 0, look)
        self.assertNotIn(look["fill"]["background"], TRANSPARENT, look)
        self.assertNotEqual(look["fill"]["background"], look["track"]["background"], look)
        expect(page.get_by_role("button", name="Cancel")).to_have_class("btn btn-secondary")

        # On to 40 %: the page follows without a reload.
        page.evaluate("window.__netsightSamePage = true")
        self.steps.allow(39)
        expect(bar).to_have_attribute("aria-valuenow", "40", timeout=TIMEOUT)
        expect(fill).to_have_attribute("style", re.compile(r"^width: 40%;?$"))
        expect(percent).to_have_text("40%")
        expect(page.locator(".netsight-async-status")).to_have_text("40% completed...")
        expect(page).to_have_title(re.compile(r"^40% completed\.\.\. — "))
        page.wait_for_function(FILL_SHARE, arg=0.4)
        self.assertTrue(page.evaluate("window.__netsightSamePage"), "the page was loaded anew")

        # Done: the result, in the theme too.
        self.steps.finish()
        page.wait_for_url(RESULT_URL)
        expect(page.locator("#fibonacci-number")).to_have_text(F_100)
        self.assert_themed(page)

    def test_without_javascript(self):
        """The bar as the server draws it, and the page reloads itself
        (every 5 s: only expect()'s retried checks, no page.evaluate)."""
        page = self.new_page(java_script_enabled=False)
        self.start(page, 100)
        bar = page.locator(".progress.netsight-async-bar")
        fill = page.locator(".netsight-async-bar > .progress-bar")
        self.steps.allow(24)  # 25 %, seen at a reload
        expect(bar).to_have_attribute("aria-valuenow", "25", timeout=TIMEOUT)
        expect(fill).to_have_attribute("style", re.compile(r"^width: 25%;?$"))
        expect(page.locator(".netsight-async-percent")).to_have_text("25%")
        expect(page.locator("#content-header #portal-logo")).to_be_visible()
        expect(bar).to_have_css("display", "flex")  # Bootstrap's .progress
        expect(fill).to_have_css("width", re.compile(r"^[1-9][0-9.]*px$"))
        expect(fill).not_to_have_css("background-color", re.compile(r"^(rgba\(0, 0, 0, 0\)|transparent)$"))
        self.steps.finish()
        page.wait_for_url(RESULT_URL, timeout=DEADLINE * 1000)
        expect(page.locator("#fibonacci-number")).to_have_text(F_100)
