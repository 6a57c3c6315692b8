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
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.views import STEPS
from netsight.asynchronous.tests.helpers.views import Steps

import base64
import contextlib
import os
import pathlib
import re
import time
import unittest
import uuid


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

# The processing page's polls of its process's status.
POLLS = re.compile(r"/completed\?process_id=[0-9a-f]{32}&output_json=1$")

# NETSIGHT_ASYNC_SCREENSHOTS=1 writes the screenshots of the docs here.
SCREENSHOTS = pathlib.Path(__file__).resolve().parents[5] / "docs" / "screenshots"

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


# Run in the page before its own scripts (an init script): records each poll
# the page makes, whether its tab was hidden then, and ``settled`` once the
# answer (or the network error) came. Counted in the page, the number is
# exact at once, whatever a route has seen yet.
POLL_LOG = """(() => {
  const polls = (window.__netsightPolls = []);
  const fetch = window.fetch;
  window.fetch = function (resource) {
    const url = String(resource && resource.url ? resource.url : resource);
    const promise = fetch.apply(this, arguments);
    if (url.includes("/completed?")) {
      const poll = { hidden: document.hidden, settled: false };
      polls.push(poll);
      const settle = () => { poll.settled = true; };
      promise.then(settle, settle);
    }
    return promise;
  };
})();"""

# The tab hidden or shown again, as far as the page can tell (a headless
# browser cannot hide a tab): document.hidden, visibilityState and the event.
# Returns how many polls the page had made once the event was handled.
SET_HIDDEN = """(hidden) => {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(document, "visibilityState", {
    configurable: true,
    get: () => (hidden ? "hidden" : "visible"),
  });
  document.dispatchEvent(new Event("visibilitychange"));
  return window.__netsightPolls.length;
}"""

# The browser back online, as the page hears of it; returns the polls made.
ONLINE = """() => {
  window.dispatchEvent(new Event("online"));
  return window.__netsightPolls.length;
}"""


def wait_until(page, predicate, timeout=TIMEOUT, what="the condition"):
    """Poll ``predicate`` (Python) until true, letting Playwright's events
    (route handlers) run meanwhile; fail at the deadline (``timeout`` ms)."""
    deadline = time.monotonic() + timeout / 1000
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout / 1000:.0f}s waiting for {what}")
        page.wait_for_timeout(20)
    return value


def pause_clock(page):
    """Stop the page's clock (``page.clock.install()`` before it loaded):
    from now on its timers fire only in ``page.clock.run_for``. The clock
    jumps a few seconds ahead (the time this call may take, at worst), firing
    each timer due meanwhile once."""
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 10)


def status_json(state="running", completed=False, message="", elapsed=0.0, remaining=None, **more):
    """An answer of ``completed?output_json=1``, as the server writes it."""
    numeric = isinstance(completed, (int, float)) and not isinstance(completed, bool)
    answer = {
        "state": state,
        "completed": completed,
        "progress": completed,
        "progress_message": f"{completed}% completed..." if numeric else "Processing...",
        "message": message,
        "elapsed": elapsed,
        "remaining": remaining,
    }
    answer.update(more)
    return answer


class JobOnHold:
    """A job of the ``progress`` test view that runs until the test lets it
    end (``release``, else at the end of the test): its processing page
    stays, however slow the machine. Its result is the text "finished"."""

    def __init__(self, test):
        self.steps = Steps()
        self.key = uuid.uuid4().hex
        STEPS[self.key] = self.steps
        self.released = False
        held = test.__dict__.setdefault("_jobs_on_hold", [])
        if not held:
            test.addCleanup(self._end_all, held)
        held.append(self)

    def start(self, page, site_url):
        """Start it from ``page`` (a form submission); returns the view's URL."""
        return start_job(page, site_url, "progress", steps=self.key)

    def release(self):
        if not self.released:
            self.released = True
            self.steps.go_on.put(True)

    @staticmethod
    def _end_all(held):
        """Let the test's jobs end, all at once (the pool runs two at a time)."""
        for job in held:
            job.release()
        join_workers()  # a job still queued needs its key
        for job in held:
            STEPS.pop(job.key, None)
        held.clear()


class Polls:
    """The polls of the processing page in ``page``, seen and answered by the test.

    Counts them in the page (``issued``). With ``route`` (the default) each
    is held (``held``) until the test answers it (``answer``) or lets it go
    to the server (``release``); with ``auto``, a function of the route,
    each is answered at once. Set up before the page loads.
    """

    def __init__(self, page, route=True, auto=None):
        self.page = page
        self.auto = auto
        self.held = []
        self.routed = 0
        page.add_init_script(POLL_LOG)
        if route:
            page.route(POLLS, self._route)

    def _route(self, route):
        self.routed += 1
        if self.auto is None:
            self.held.append(route)
        else:
            self.auto(route)

    def issued(self):
        """How many polls the page made."""
        return self.page.evaluate("window.__netsightPolls.length")

    def wait_for_issued(self, count):
        """Wait until the page made ``count`` polls, and they were answered."""
        wait_until(
            self.page,
            lambda: self.page.evaluate(
                "(count) => window.__netsightPolls.length >= count && window.__netsightPolls.every((p) => p.settled)",
                count,
            ),
            what=f"{count} polls answered",
        )

    def wait_for_held(self, count=1):
        """Wait until ``count`` polls wait for the test's answer."""
        wait_until(self.page, lambda: len(self.held) >= count, what=f"{count} held polls")

    def answer(self, status=200, json=None, body="", headers=None, content_type="text/html; charset=utf-8"):
        """Answer the first held poll (waiting for it): ``json``, or ``body``."""
        self.wait_for_held()
        route = self.held.pop(0)
        if json is not None:
            route.fulfill(status=status, headers=headers or {}, json=json)
        else:
            route.fulfill(status=status, headers=headers or {}, body=body, content_type=content_type)

    def release(self):
        """Let the first held poll (waiting for it) go on to the server."""
        self.wait_for_held()
        self.held.pop(0).continue_()


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


@contextlib.contextmanager
def layer_set_up(layer):
    """``layer`` and its bases set up, and each one's test set-up done, for a
    script's time (bench/): what zope-testrunner does around one test."""
    layers = layers_of(layer)
    done = []
    try:
        for each in layers:
            each.setUp()
            done.append(each)
        for each in layers:
            if hasattr(each, "testSetUp"):
                each.testSetUp()
        yield layer
    finally:
        for each in reversed(layers):
            if hasattr(each, "testTearDown") and each in done:
                each.testTearDown()
        for each in reversed(done):
            each.tearDown()


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
