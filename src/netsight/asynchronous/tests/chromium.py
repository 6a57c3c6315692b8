"""Debian's Chromium, driven by Playwright for Python, against the test server.

Used by test_chromium.py and bench/latency.py. The browser is
/usr/bin/chromium (``make test`` installs it; Playwright's own browser
download is never used). The run has one browser (a layer); each test a
context of its own, logged in as the test user (a Member) with HTTP basic
auth sent on every request.
"""

from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD
from plone.testing import Layer
from playwright.sync_api import sync_playwright
from unittest import SkipTest

from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.testing import NETSIGHT_ASYNC_CHROMIUM_TESTING
from netsight.asynchronous.tests.base import join_workers

import base64
import os
import pathlib
import re
import unittest


CHROMIUM = os.environ.get("NETSIGHT_ASYNC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
TIMEOUT = 30_000  # ms: Playwright's default wait in these tests

# The URLs of a process's pages, as the browser sees them.
PROCESSING_URL = re.compile(r"/processing\?process_id=[0-9a-f]{32}$")
RESULT_URL = re.compile(r"/result\?process_id=[0-9a-f]{32}$")

# NETSIGHT_ASYNC_SCREENSHOTS=1 writes the screenshots of the docs here.
SCREENSHOTS = pathlib.Path(__file__).resolve().parents[4] / "docs" / "screenshots"

# Builds a POST form to ``action`` with ``fields`` and the page's CSRF token
# (the _authenticator input of own-template), and submits it: a real form
# submission, so the browser follows the 303 to the processing page.
SUBMIT_FORM = """([action, fields]) => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = action;
  const token = document.querySelector("input[name=_authenticator]");
  if (token) {
    fields = Object.assign({_authenticator: token.value}, fields);
  }
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}"""


def launch(playwright):
    """Debian's chromium, headless."""
    if not os.path.exists(CHROMIUM):
        raise SkipTest(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def new_context(browser, user=TEST_USER_NAME, password=TEST_USER_PASSWORD, **options):
    """A browser context logged in with HTTP basic auth on every request.

    Playwright's ``http_credentials`` answer only a 401 challenge (its
    ``send: "always"`` is for API requests only), and Plone challenges a
    browser with a redirect to its login form, never with 401: so the
    context sends the Authorization header itself, as a logged-in browser
    would after a challenge.
    """
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    headers = {"Authorization": f"Basic {token}", **options.pop("extra_http_headers", {})}
    return browser.new_context(extra_http_headers=headers, **options)


def open_start_form(page, site_url):
    """Open a page that carries the user's CSRF token (own-template's form)."""
    page.goto(f"{site_url}/own-template")


def submit(page, view_url, **form):
    """Submit ``form`` as a POST form to ``view_url`` from the current page."""
    page.evaluate(SUBMIT_FORM, [view_url, {name: str(value) for name, value in form.items()}])


def start_job(page, site_url, view, **form):
    """Open the start form, submit ``form`` to ``view``; returns the view's URL."""
    view_url = f"{site_url}/{view}"
    open_start_form(page, site_url)
    submit(page, view_url, **form)
    return view_url


def screenshot(page, name):
    """Save the docs' screenshot ``name`` if NETSIGHT_ASYNC_SCREENSHOTS is set."""
    if os.environ.get("NETSIGHT_ASYNC_SCREENSHOTS", "") not in ("", "0"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # The page's own part, narrow: the test site has no theme, Plone's frame is bare.
        page.set_viewport_size({"width": 480, "height": 360})
        page.locator("#netsight-async-processing").screenshot(path=str(SCREENSHOTS / name))


def layers_of(layer, found=None):
    """``layer`` and its bases, bases first, as zope-testrunner sets them up."""
    found = [] if found is None else found
    for base in layer.__bases__:
        layers_of(base, found)
    if layer not in found:
        found.append(layer)
    return found


class ChromiumBrowserLayer(Layer):
    """One headless Chromium for the run (resource "browser"), on top of the
    Chromium test server. zope-testrunner calls no setUpClass, so this
    layer plays that part."""

    defaultBases = (NETSIGHT_ASYNC_CHROMIUM_TESTING,)

    def setUp(self):
        self.playwright = sync_playwright().start()
        try:
            self["browser"] = launch(self.playwright)
        except BaseException:
            self.playwright.stop()
            raise

    def tearDown(self):
        self["browser"].close()
        del self["browser"]
        self.playwright.stop()


CHROMIUM_BROWSER = ChromiumBrowserLayer(name="NetsightAsync:ChromiumBrowser")


class ChromiumTestCase(unittest.TestCase):
    """A test with a Chromium page logged in as the test user, on the test server."""

    layer = CHROMIUM_BROWSER

    def setUp(self):
        # First registered, so last run: jobs end before their database goes.
        self.addCleanup(join_workers)
        portal = self.layer["portal"]
        self.server_url = chromium_server_url(self.layer)
        self.site_url = self.server_url + "/".join(portal.getPhysicalPath())
        self.browser = self.layer["browser"]
        self.dialogs = []
        self.context, self.page = self.new_page()

    def new_page(self, **options):
        """A new context (closed after the test) and its page."""
        context = new_context(self.browser, **options)
        self.addCleanup(context.close)
        context.set_default_timeout(TIMEOUT)
        page = context.new_page()
        page.on("dialog", self._dialog)
        return context, page

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def start(self, view, **form):
        return start_job(self.page, self.site_url, view, **form)
