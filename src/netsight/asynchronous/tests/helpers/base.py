"""What the functional tests share: a browser that starts and watches jobs."""

from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD
from plone.registry.interfaces import IRegistry
from plone.testing.zope import Browser
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlparse
from zope.component import getUtility

from netsight.asynchronous import anonymous
from netsight.asynchronous import capture
from netsight.asynchronous import registry
from netsight.asynchronous import transactions
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.tests.helpers.views import STEPS
from netsight.asynchronous.tests.helpers.views import Steps

import json
import lxml.html
import os
import threading
import time
import transaction
import unittest
import uuid


DEADLINE = 60  # seconds: a job of these tests takes milliseconds


def hold_the_writer(case, timeout=DEADLINE):
    """A thread holds ``transactions.WRITER`` (the instance's turn to write) until ``case``
    ends, or until the function returned is called."""
    holding, let_go = threading.Event(), threading.Event()

    def hold():
        with transactions.WRITER:
            holding.set()
            let_go.wait(timeout)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    case.addCleanup(holder.join, timeout)
    case.addCleanup(let_go.set)
    holding.wait(timeout)
    return let_go.set


def wait_until(predicate, timeout=DEADLINE, what="the condition"):
    """Poll ``predicate`` until it is true; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
    return value


def page_part(html, name):
    """The element of class ``netsight-async-<name>`` on the processing page."""
    (element,) = lxml.html.fromstring(html).find_class(f"netsight-async-{name}")
    return element


ENDED = frozenset({"done", "failed", "cancelled", "interrupted", "timed_out", "unknown"})


def finished(answer):
    """Whether a ``completed`` JSON answer says the process ended (or is unknown)."""
    return answer["state"] in ENDED


def at_view(view_url):
    """``view_url`` with ``@@`` before the view's name, as the add-on writes its URLs."""
    base, _sep, name = view_url.rpartition("/")
    return view_url if name.startswith("@@") else f"{base}/@@{name}"


def worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith("netsight.async-")]


def join_workers():
    for thread in worker_threads():
        thread.join(DEADLINE)


def setting(test, name, value):
    """Give setting ``name`` the environment value ``value`` for the rest of ``test``."""
    key = "NETSIGHT_ASYNC_" + name.upper().replace("-", "_")
    old = os.environ.get(key)
    os.environ[key] = str(value)
    test.addCleanup(lambda: os.environ.pop(key) if old is None else os.environ.__setitem__(key, old))


def idle_pool():
    """Wait until the pool runs and holds no job (a test that counts on its
    threads starts with all of them); the message names the jobs found then."""
    wait_until(
        lambda: POOL.counts() == (0, 0, 0),
        what=f"an idle pool (busy with {[thread.name for thread in worker_threads()]}, {POOL.counts()})",
    )


class JobBrowser(Browser):
    """A test browser that does not follow redirects, and knows the job pages."""

    site_url = None
    _token = None

    def __init__(self, app, site_url, user=TEST_USER_NAME, password=TEST_USER_PASSWORD):
        super().__init__(app)
        self.site_url = site_url
        self._token = None
        self.handleErrors = True
        self.raiseHttpErrors = False
        self.followRedirects = False
        if user:
            self.addHeader("Authorization", f"Basic {user}:{password}")

    @property
    def token(self):
        """plone.protect's token for this user, read off a form; None in plain Zope."""
        if self._token is None:
            self.open(f"{self.site_url}/own-template")
            try:
                self._token = self.getControl(name="_authenticator").value
            except LookupError:
                self._token = ""
        return self._token

    @property
    def text(self):
        contents = self.contents
        return contents.decode("utf-8") if isinstance(contents, bytes) else contents

    @property
    def status(self):
        return int(self.headers["Status"].split()[0])

    def start(self, view_url, **form):
        """POST ``form`` (with the CSRF token) to an async view; returns the process id."""
        if "_authenticator" not in form and self.token:
            form["_authenticator"] = self.token
        self.post(view_url, urlencode(form, doseq=True))
        assert self.status == 303, (self.status, self.contents[:500])
        location = self.headers["Location"]
        query = parse_qs(urlparse(location).query)
        (process_id,) = query["process_id"]
        assert location == f"{at_view(view_url)}/processing?process_id={process_id}", location
        return process_id

    def poll(self, view_url, process_id):
        self.open(f"{view_url}/completed?output_json=1&process_id={process_id}")
        return json.loads(self.contents)

    def wait_for(self, view_url, process_id, timeout=DEADLINE):
        """Poll ``completed`` until the job is done or failed; returns the JSON."""
        return wait_until(
            lambda: finished(answer := self.poll(view_url, process_id)) and answer,
            timeout,
            what=f"process {process_id}",
        )

    def result(self, view_url, process_id):
        self.open(f"{view_url}/result?process_id={process_id}")
        return self.contents

    def head(self, url):
        """A HEAD request (which the test browser cannot send); returns the WebTest response."""
        return self.testapp.head(url, headers=self._req_headers, expect_errors=True)


def owner_browser(app, site_url):
    return JobBrowser(app, site_url, SITE_OWNER_NAME, SITE_OWNER_PASSWORD)


class JobTestCase(unittest.TestCase):
    """A functional test with a browser logged in as the test user (a Member)."""

    def setUp(self):
        # First registered, so last run: jobs end before their database goes.
        self.addCleanup(join_workers)
        self.app = self.layer["app"]
        # A DemoStorage takes on blob support at the first need, unlocked:
        # here, before a job's thread, a request's or a commit's can race.
        capture.directory(self.app._p_jar.db())
        self.portal = self.layer.get("portal", self.app)
        self.site_url = self.portal.absolute_url()
        self.browser = JobBrowser(self.app, self.site_url)

    def browse_in(self, language):
        """Let Plone negotiate the language, and ask for ``language``."""
        registry = getUtility(IRegistry, context=self.portal)
        registry["plone.available_languages"] = ["en", "de", "it"]
        registry["plone.use_request_negotiation"] = True
        transaction.commit()
        self.browser.addHeader("Accept-Language", language)

    def url(self, view):
        return f"{self.site_url}/{view}"

    def run_job(self, view, **form):
        """Start ``view`` with ``form`` and wait until it is done; returns (url, id, JSON)."""
        url = self.url(view)
        process_id = self.browser.start(url, **form)
        return url, process_id, self.browser.wait_for(url, process_id)

    def fresh_record(self, process_id):
        """The process's record as a new transaction sees it."""
        transaction.begin()
        return registry.find(self.app._p_jar, process_id)


class HeldJob:
    """A job of the ``progress`` view: it reports each value, then waits for the test."""

    def __init__(self, test, *progress, work="", messages=(), view="progress"):
        self.steps = Steps()
        key = uuid.uuid4().hex
        STEPS[key] = self.steps
        test.addCleanup(STEPS.pop, key)
        self.browser = test.browser
        self.url = test.url(view)
        self.process_id = self.browser.start(
            self.url,
            steps=key,
            work=work,
            **{"progress:list": [str(v) for v in progress], "messages:list": list(messages)},
        )
        self.releases = len(progress) + 1
        test.addCleanup(self.finish)

    def reached(self):
        """The next value the job reports; the job then waits for ``go_on``."""
        return self.steps.reached.get(timeout=DEADLINE)

    def go_on(self):
        self.steps.go_on.put(True)

    def poll(self):
        return self.browser.poll(self.url, self.process_id)

    def finish(self):
        """Let the job run to its end; returns the final JSON."""
        for _ in range(self.releases):
            self.go_on()
        return self.browser.wait_for(self.url, self.process_id)
