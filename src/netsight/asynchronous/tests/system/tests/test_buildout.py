"""The buildout install of README.rst, built and run as buildout.cfg says.

Slow (a layer of its own, ``NetsightAsync:Buildout``): in a temporary copy
of the checkout, the commands of buildout.cfg's header, one by one: a
virtualenv with zc.buildout and plone.recipe.zope2instance (constraints.txt),
``bin/buildout``, ``bin/instance run demo/instance/create_site.py`` and
``bin/instance fg``, on a free port of 127.0.0.1. Then admin starts the
demo's Fibonacci job over HTTP, polls it and reads its result, and opens
the control panel (installs.DemoSiteTests). The recipe's
``zcml = netsight.async`` loads the add-on's ZCML as a package-includes
slug, before Zope's products: the route that ``make demo``
(plone.autoinclude) does not take (test_zcml_slug.py checks that alone, in
seconds).

buildout downloads its eggs from PyPI into an eggs directory that outlives
the run, ``~/.cache/netsight-async/buildout`` (or
$NETSIGHT_ASYNC_BUILDOUT_CACHE), and pip uses its own cache: the first run
on a machine takes about 3 minutes (``bin/buildout`` 100-170 s of them),
a later one about a minute (``bin/buildout`` about 10 s). Nothing is left
in the checkout.
"""

from pathlib import Path
from plone.testing import Layer

from netsight.asynchronous.tests.helpers.installs import Build
from netsight.asynchronous.tests.helpers.installs import CHECKOUT
from netsight.asynchronous.tests.helpers.installs import DemoSiteTests
from netsight.asynchronous.tests.helpers.installs import ROOT
from netsight.asynchronous.tests.helpers.installs import ZopeServer
from netsight.asynchronous.tests.helpers.instances import free_port
from netsight.asynchronous.tests.helpers.instances import HOST

import os
import re
import sys
import unittest


CACHE = Path(
    os.environ.get("NETSIGHT_ASYNC_BUILDOUT_CACHE")
    or Path.home() / ".cache" / "netsight-async" / "buildout"
)


class BuildoutLayer(Layer):
    """The buildout of buildout.cfg in a temporary copy, its instance running."""

    def setUp(self):
        self.build = None
        if not CHECKOUT:
            return
        self.build = build = Build("netsight-async-buildout-")
        try:
            build.copy()
            CACHE.mkdir(parents=True, exist_ok=True)
            venv = build.directory / ".venv-buildout" / "bin"
            port = free_port()
            # buildout.cfg's header, command by command; the eggs directory
            # and the port are buildout options on its command line.
            build.step("virtualenv", sys.executable, "-m", "venv", ".venv-buildout", timeout=120)
            build.step("pip", venv / "pip", "install", "--constraint", "constraints.txt",
                       "zc.buildout", "plone.recipe.zope2instance", timeout=900)
            build.step("buildout", venv / "buildout", f"buildout:eggs-directory={CACHE}",
                       f"instance:http-address={HOST}:{port}", timeout=1800)
            build.step("site", "bin/instance", "run", "demo/instance/create_site.py", timeout=600,
                       env={"NETSIGHT_ASYNC_JOB_THREADS": "0"}, quiet=True)
            build.start(ZopeServer("instance-fg", ["bin/instance", "fg"], build.directory, port,
                                   build.directory / "var" / "log" / "instance.log"))
            build.report("buildout.cfg built and started")
        except BaseException:
            build.close()
            raise
        self["directory"] = build.directory
        self["server"] = build.server

    def tearDown(self):
        if self.build is not None:
            self.build.close()
            del self["directory"], self["server"]


BUILDOUT = BuildoutLayer(name="NetsightAsync:Buildout")


@unittest.skipUnless(CHECKOUT, "no buildout.cfg beside src/ (an installed copy)")
class TestBuildout(DemoSiteTests, unittest.TestCase):
    """The demo instance of buildout.cfg runs a job and serves the control panel."""

    layer = BUILDOUT

    def test_the_add_on_is_a_package_includes_slug(self):
        # What makes this route differ from `make demo`'s: the recipe's slug,
        # included before Zope's products (etc/site.zcml).
        etc = self.layer["directory"] / "parts" / "instance" / "etc"
        slug = etc / "package-includes" / "002-netsight.async-configure.zcml"
        self.assertEqual(slug.read_text().strip(), '<include package="netsight.async" file="configure.zcml" />')
        site_zcml = (etc / "site.zcml").read_text()
        self.assertLess(site_zcml.index("package-includes/*-configure.zcml"), site_zcml.index("<five:loadProducts />"))


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
