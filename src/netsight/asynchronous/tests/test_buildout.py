"""The buildout install of README.rst, built and run as buildout.cfg says.

Slow (a layer of its own, ``NetsightAsync:Buildout``): in a temporary copy
of the checkout, the commands of buildout.cfg's header, one by one: a
virtualenv with zc.buildout and plone.recipe.zope2instance (constraints.txt),
``bin/buildout``, ``bin/instance run demo/instance/create_site.py`` and
``bin/instance fg``, on a free port of 127.0.0.1. Then admin starts the
demo's Fibonacci job over HTTP, polls it and reads its result, and opens
the control panel. The recipe's ``zcml = netsight.async`` loads the add-on's
ZCML as a package-includes slug, before Zope's products: the route that
``make demo`` (plone.autoinclude) does not take (test_zcml_slug.py checks
that alone, in seconds).

buildout downloads its eggs from PyPI into an eggs directory that outlives
the run, ``~/.cache/netsight-async/buildout`` (or
$NETSIGHT_ASYNC_BUILDOUT_CACHE), and pip uses its own cache: the first run
on a machine takes about 3 minutes (``bin/buildout`` 100-130 s of them),
a later one under a minute (``bin/buildout`` about 8 s). Nothing is left in the checkout; the
temporary directory goes at the end (NETSIGHT_ASYNC_KEEP_INSTANCES=1 keeps it).
"""

from pathlib import Path
from plone.testing import Layer
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from netsight.asynchronous.tests.instances import Client
from netsight.asynchronous.tests.instances import free_port
from netsight.asynchronous.tests.instances import HOST
from netsight.asynchronous.tests.instances import KEEP
from netsight.asynchronous.tests.instances import Process
from netsight.asynchronous.tests.instances import Server
from netsight.asynchronous.tests.instances import tail
from netsight.asynchronous.tests.instances import wait_until

import http.client
import lxml.html
import os
import re
import shutil
import sys
import tempfile
import time
import unittest


ROOT = Path(__file__).resolve().parents[4]
CHECKOUT = (ROOT / "buildout.cfg").exists()  # an installed copy has no buildout.cfg
CACHE = Path(
    os.environ.get("NETSIGHT_ASYNC_BUILDOUT_CACHE")
    or Path.home() / ".cache" / "netsight-async" / "buildout"
)
ADMIN = ("admin", "admin")  # buildout.cfg's `user`
SITE_PATH = "/plone"  # demo/instance/create_site.py's
DEADLINE = 60  # seconds for a job of a second or two

# What a build needs of the checkout (setup.py reads README.rst and CHANGES.rst).
FILES = ("buildout.cfg", "versions.cfg", "constraints.txt", "setup.py", "MANIFEST.in",
         "README.rst", "CHANGES.rst", "LICENSE")
TREES = ("src", "demo")
NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "var", "_build")

# Seconds each step may take (a cold cache downloads ~250 eggs).
TIMEOUTS = {"virtualenv": 120, "pip": 900, "buildout": 1800, "site": 600}


class BuildoutInstance(Server):
    """``bin/instance fg`` of the buildout in ``directory``."""

    def __init__(self, directory, port):
        self.directory = Path(directory)
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.log = self.directory / "var" / "log" / "instance.log"
        self.process = Process(
            "bin/instance fg",
            [self.directory / "bin" / "instance", "fg"],
            self.directory,
            self.directory / "var" / "log" / "fg.log",
        )

    @property
    def what(self):
        return f"bin/instance fg on {self.url}"

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


class BuildoutLayer(Layer):
    """The buildout of buildout.cfg in a temporary copy, its instance running."""

    def setUp(self):
        self.directory = None
        self.instance = None
        self["timings"] = {}
        if not CHECKOUT:
            return
        self.directory = Path(tempfile.mkdtemp(prefix="netsight-async-buildout-"))
        try:
            self.build()
        except BaseException:
            self.tearDown()
            raise
        self["directory"] = self.directory
        self["instance"] = self.instance

    def build(self):
        directory = self.directory
        for name in FILES:
            shutil.copy2(ROOT / name, directory / name)
        for name in TREES:
            shutil.copytree(ROOT / name, directory / name, ignore=NOT_COPIED)
        CACHE.mkdir(parents=True, exist_ok=True)
        venv = directory / ".venv-buildout" / "bin"
        port = free_port()
        # buildout.cfg's header, command by command; the cache and the port
        # are buildout options given on its command line.
        self.step("virtualenv", sys.executable, "-m", "venv", directory / ".venv-buildout")
        self.step("pip", venv / "pip", "install", "--constraint", "constraints.txt",
                  "zc.buildout", "plone.recipe.zope2instance")
        self.step("buildout", venv / "buildout",
                  f"buildout:eggs-directory={CACHE}",
                  f"instance:http-address={HOST}:{port}")
        self.step("site", directory / "bin" / "instance", "run", "demo/instance/create_site.py")
        self.instance = BuildoutInstance(directory, port)
        started = time.monotonic()
        self.instance.start()
        self["timings"]["start"] = round(time.monotonic() - started)
        timings = ", ".join(f"{name} {seconds}s" for name, seconds in self["timings"].items())
        print(f"\n  buildout.cfg built and started: {timings}", file=sys.stderr)

    def step(self, name, *argv):
        """Run ``argv`` in the buildout's directory; fail with its output's tail."""
        output = self.directory / "steps" / f"{name}.log"
        process = Process(name, argv, self.directory, output)
        started = time.monotonic()
        process.start()
        if not process.wait(TIMEOUTS[name]):
            process.kill()
            raise AssertionError(f"{name} took more than {TIMEOUTS[name]}s:\n{tail(output)}")
        self["timings"][name] = round(time.monotonic() - started)
        if process.returncode:
            raise AssertionError(f"{name} failed ({process.returncode}):\n{tail(output)}")

    def tearDown(self):
        if self.instance is not None:
            self.instance.stop()
        if self.directory is not None:
            if KEEP:
                print(f"\nKept {self.directory}", file=sys.stderr)
            else:
                shutil.rmtree(self.directory, ignore_errors=True)
        for key in ("directory", "instance"):
            if key in self:
                del self[key]


BUILDOUT = BuildoutLayer(name="NetsightAsync:Buildout")


@unittest.skipUnless(CHECKOUT, "no buildout.cfg beside src/ (an installed copy)")
class TestBuildout(unittest.TestCase):
    """The demo instance of buildout.cfg runs a job and serves the control panel."""

    layer = BUILDOUT

    def setUp(self):
        self.instance = self.layer["instance"]
        self.site_url = self.instance.url + SITE_PATH
        self.admin = Client(*ADMIN)

    def check(self, response, status=200):
        self.assertEqual(response.status, status, f"{response.url}\n{response.text[:1000]}\n"
                         f"{self.instance.log_tail(30)}")

    def test_the_add_on_is_a_package_includes_slug(self):
        # What makes this route differ from `make demo`'s: the recipe's slug,
        # included before Zope's products (etc/site.zcml).
        etc = self.layer["directory"] / "parts" / "instance" / "etc"
        slug = etc / "package-includes" / "002-netsight.async-configure.zcml"
        self.assertEqual(slug.read_text().strip(), '<include package="netsight.async" file="configure.zcml" />')
        site_zcml = (etc / "site.zcml").read_text()
        self.assertLess(site_zcml.index("package-includes/*-configure.zcml"),
                        site_zcml.index("<five:loadProducts />"))

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

    def test_not_for_anonymous(self):
        response = Client().get(f"{self.site_url}/@@netsight-async-controlpanel")
        self.assertNotEqual(response.status, 200)
        self.assertNotIn("form.widgets.queue_limit", response.text)


class TestVersionsCfg(unittest.TestCase):
    """versions.cfg pins for buildout what constraints.txt pins for pip."""

    @unittest.skipUnless(CHECKOUT, "no buildout.cfg beside src/ (an installed copy)")
    def test_the_same_versions(self):
        pins = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;]+)$")
        constraints = [
            match.groups()
            for line in (ROOT / "constraints.txt").read_text().splitlines()
            if (match := pins.match(line))
        ]
        lines = (ROOT / "versions.cfg").read_text().splitlines()
        versions = [tuple(line.split(" = ")) for line in lines[lines.index("[versions]") + 1:] if line]
        self.assertEqual(versions, constraints, "versions.cfg is behind constraints.txt: make versions.cfg")
