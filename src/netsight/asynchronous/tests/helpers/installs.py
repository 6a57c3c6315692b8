"""The README's install routes built from a temporary copy of the checkout, for tests.

test_buildout.py (buildout.cfg) and test_wheel.py (the wheels in a fresh
virtualenv) build a route with ``Build``: a temporary directory with a copy
of the checkout (``copy``), each command of the route a ``step`` (its
output in ``steps/<name>.log``, its time in ``timings``), a Zope server
(``ZopeServer``) started on a free port of 127.0.0.1; ``close()`` stops it
and removes the directory (kept with NETSIGHT_ASYNC_KEEP_INSTANCES=1).
``DemoSiteTests`` are the tests both routes pass: admin runs the demo's
Fibonacci job over HTTP and opens the control panel.
"""

from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import HOST
from netsight.asynchronous.tests.helpers.instances import KEEP
from netsight.asynchronous.tests.helpers.instances import Process
from netsight.asynchronous.tests.helpers.instances import Server
from netsight.asynchronous.tests.helpers.instances import tail
from netsight.asynchronous.tests.helpers.instances import wait_until

import http.client
import lxml.html
import shutil
import sys
import tempfile
import time


ROOT = Path(__file__).resolve().parents[5]
CHECKOUT = (ROOT / "buildout.cfg").exists()  # an installed copy has no buildout.cfg
ADMIN = ("admin", "admin")  # buildout.cfg's `user`, make demo's
SITE_PATH = "/plone"  # demo/instance/create_site.py's
DEADLINE = 60  # seconds for the demo's job of F(20), about 1.5 s

# What a build needs of the checkout (setup.py reads README.rst and CHANGES.rst).
FILES = ("buildout.cfg", "versions.cfg", "constraints.txt", "setup.py", "MANIFEST.in",
         "README.rst", "CHANGES.rst", "LICENSE")
TREES = ("src", "demo")
NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo", "*.egg-info", "var", "_build")


class ZopeServer(Server):
    """A Zope server of an install route (``argv``), on ``port`` of 127.0.0.1."""

    def __init__(self, name, argv, directory, port, log):
        self.directory = Path(directory)
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.log = Path(log)
        self.process = Process(name, argv, self.directory, self.directory / "steps" / f"{name}.log")

    @property
    def what(self):
        return f"{self.process.name} on {self.url}"

    def _ready(self):
        try:
            connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
            try:
                connection.request("HEAD", "/")
                connection.getresponse().read()
            finally:
                connection.close()
        except OSError:
            return False
        return True


class Build:
    """A temporary directory where an install route is built and run."""

    def __init__(self, prefix):
        self.directory = Path(tempfile.mkdtemp(prefix=prefix))
        self.timings = {}
        self.server = None

    def copy(self, into="."):
        """Copy what a build needs of the checkout into ``into``; its path."""
        target = self.directory / into
        target.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copy2(ROOT / name, target / name)
        for name in TREES:
            shutil.copytree(ROOT / name, target / name, ignore=NOT_COPIED)
        return target

    def step(self, name, *argv, timeout, cwd=None, env=None, quiet=False):
        """Run ``argv`` (in the directory, with ``env`` set besides); fail with its output's tail
        (``quiet``: also if its output has a traceback, which a newcomer would take for a broken install)."""
        output = self.directory / "steps" / f"{name}.log"
        process = Process(name, argv, cwd or self.directory, output, env)
        started = time.monotonic()
        process.start()
        if not process.wait(timeout):
            process.kill()
            raise AssertionError(f"{name} took more than {timeout}s:\n{tail(output)}")
        self.timings[name] = round(time.monotonic() - started)
        if process.returncode:
            raise AssertionError(f"{name} failed ({process.returncode}):\n{tail(output)}")
        if quiet and "Traceback" in output.read_text(errors="replace"):
            raise AssertionError(f"{name} logged a traceback:\n{output.read_text(errors='replace')[-5000:]}")

    def start(self, server):
        """Start ``server`` (a ZopeServer); return once it answers HTTP."""
        self.server = server
        started = time.monotonic()
        server.start()
        self.timings["start"] = round(time.monotonic() - started)

    def report(self, what):
        """Say on stderr how long each step took (a cold cache takes minutes)."""
        timings = ", ".join(f"{name} {seconds}s" for name, seconds in self.timings.items())
        print(f"\n  {what}: {timings}", file=sys.stderr)

    def close(self):
        if self.server is not None:
            self.server.stop()
        if KEEP:
            print(f"\nKept {self.directory}", file=sys.stderr)
        else:
            shutil.rmtree(self.directory, ignore_errors=True)


class DemoSiteTests:
    """What a user of the demo site sees: a mix-in for a TestCase whose
    layer has the running ``server`` (a ZopeServer) of an install route."""

    def setUp(self):
        self.server = self.layer["server"]
        self.site_url = self.server.url + SITE_PATH
        self.admin = Client(*ADMIN)

    def check(self, response, status=200):
        self.assertEqual(
            response.status, status, f"{response.url}\n{response.text[:1000]}\n{self.server.log_tail(30)}"
        )

    def test_a_job_runs_and_its_result_is_shown(self):
        form_url = f"{self.site_url}/fibonacci"
        response = self.admin.get(form_url)
        self.check(response)
        (token,) = lxml.html.fromstring(response.body).xpath("//input[@name='_authenticator']/@value")
        response = self.admin.post(form_url, {"_authenticator": token, "n": "20"})
        self.check(response, 303)
        location = urlsplit(response.location)
        self.assertEqual(location.path, f"{SITE_PATH}/@@fibonacci/processing")
        (process_id,) = parse_qs(location.query)["process_id"]
        view_url = f"{self.site_url}/@@fibonacci"

        response = self.admin.get(response.location)  # the processing page, with its script
        self.check(response)
        (script,) = lxml.html.fromstring(response.body).xpath("//script[contains(@src, 'processing.js')]/@src")
        self.check(self.admin.get(script))

        answers = []

        def done():
            response = self.admin.get(f"{view_url}/completed?process_id={process_id}&output_json=1")
            self.check(response)
            answers.append(answer := response.json())
            self.assertNotIn(answer["state"], ("failed", "cancelled", "interrupted", "unknown"), answer)
            return answer["state"] == "done"

        wait_until(done, DEADLINE, f"the job {process_id}", lambda: f"answers: {answers[-3:]}")
        response = self.admin.get(f"{view_url}/result?process_id={process_id}")
        self.check(response)
        self.assertRegex(response.text, r'id="fibonacci-number"[^>]*>6765<')  # F(20)

    def test_the_control_panel(self):
        response = self.admin.get(f"{self.site_url}/@@netsight-async-controlpanel")
        self.check(response)
        page = lxml.html.fromstring(response.body)
        self.assertEqual(page.xpath("//h1")[0].text_content().strip(), "Background processes")
        self.assertEqual(page.xpath("//input[@name='form.widgets.queue_limit']/@value"), [""])

    def test_the_control_panel_is_not_for_anonymous(self):
        response = Client().get(f"{self.site_url}/@@netsight-async-controlpanel")
        self.assertNotEqual(response.status, 200)
        self.assertNotIn("form.widgets.queue_limit", response.text)
