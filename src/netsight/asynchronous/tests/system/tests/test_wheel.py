"""The pip install of README.rst from the package's wheel, not from the checkout.

Slow (a layer of its own, ``NetsightAsync:Wheel``): in a temporary
directory, ``pip wheel`` builds the wheels of netsight.async and of the demo
from a copy of the checkout; a fresh virtualenv installs them with
constraints.txt (no editable install, no source tree on the path); Zope
starts on them as ``make demo`` starts it (mkwsgiinstance, the demo's
zope.conf, ``NETSIGHT_ASYNC_JOB_THREADS=0 zconsole run demo/instance/create_site.py``, ``runwsgi``).
Then admin runs the demo's Fibonacci job over HTTP and opens the control
panel (installs.DemoSiteTests): ZCML, templates, JavaScript and profiles
came with the wheel. And every file of the package in the checkout is in
the wheel (MANIFEST.in, package data). About a minute and a half, with
pip's cache warm.
"""

from plone.testing import Layer

from netsight.asynchronous.tests.helpers.installs import ADMIN
from netsight.asynchronous.tests.helpers.installs import Build
from netsight.asynchronous.tests.helpers.installs import CHECKOUT
from netsight.asynchronous.tests.helpers.installs import DemoSiteTests
from netsight.asynchronous.tests.helpers.installs import ZopeServer
from netsight.asynchronous.tests.helpers.instances import free_port

import subprocess
import sys
import unittest
import zipfile


class WheelLayer(Layer):
    """The wheels installed in a fresh virtualenv, the demo's Zope running on them."""

    def setUp(self):
        self.build = None
        if not CHECKOUT:
            return
        self.build = build = Build("netsight-async-wheel-")
        try:
            source = build.copy("source")
            directory = build.directory
            wheels = directory / "wheels"
            # The wheels, built with the setuptools of the test run's virtualenv
            # (constraints.txt's), from the copy: no build/ in the checkout.
            build.step("wheel", sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                       "--wheel-dir", wheels, source, source / "demo", timeout=300)
            (wheel,) = wheels.glob("netsight_async-*.whl")
            (demo,) = wheels.glob("netsight_asyncdemo-*.whl")
            build.step("virtualenv", sys.executable, "-m", "venv", "venv", timeout=120)
            venv = directory / "venv" / "bin"
            build.step("pip", venv / "pip", "install", "--constraint", source / "constraints.txt",
                       wheel, demo, timeout=900)
            instance = directory / "instance"
            build.step("mkwsgiinstance", venv / "mkwsgiinstance", "--dir", instance,
                       "--user", ":".join(ADMIN), timeout=120)
            var = directory / "var"
            for name in ("filestorage", "blobstorage", "cache"):
                (var / name).mkdir(parents=True)
            conf = (source / "demo" / "instance" / "zope.conf.in").read_text()
            conf = conf.replace("@INSTANCE@", str(instance)).replace("@VAR@", str(var))
            (instance / "etc" / "zope.conf").write_text(conf)
            port = free_port()
            ini = instance / "etc" / "zope.ini"
            ini.write_text(ini.read_text().replace("port = 8080", f"port = {port}", 1))
            build.step("site", venv / "zconsole", "run", instance / "etc" / "zope.conf",
                       source / "demo" / "instance" / "create_site.py", timeout=600, cwd=directory / "var",
                       env={"NETSIGHT_ASYNC_JOB_THREADS": "0"}, quiet=True)
            build.start(ZopeServer("runwsgi", [venv / "runwsgi", ini], directory, port,
                                   directory / "steps" / "runwsgi.log"))
            build.report("the wheels installed and started")
        except BaseException:
            build.close()
            raise
        self["source"] = source
        self["wheel"] = wheel
        self["venv"] = venv
        self["server"] = build.server

    def tearDown(self):
        if self.build is not None:
            self.build.close()
            del self["source"], self["wheel"], self["venv"], self["server"]


WHEEL = WheelLayer(name="NetsightAsync:Wheel")


@unittest.skipUnless(CHECKOUT, "no setup.py beside src/ (an installed copy)")
class TestWheel(DemoSiteTests, unittest.TestCase):
    """The demo, on the wheels, runs a job and serves the control panel."""

    layer = WHEEL

    def test_every_file_of_the_package_is_in_the_wheel(self):
        src = self.layer["source"] / "src"  # the copy the wheel was built from
        expected = {path.relative_to(src).as_posix() for path in (src / "netsight").rglob("*") if path.is_file()}
        with zipfile.ZipFile(self.layer["wheel"]) as wheel:
            packaged = set(wheel.namelist())
        self.assertEqual(sorted(expected - packaged), [])
        for kind in (".zcml", ".pt", ".js", ".po", ".xml"):
            self.assertTrue(any(name.endswith(kind) for name in packaged), kind)

    def test_the_add_on_comes_from_the_wheel(self):
        where = subprocess.run(
            [self.layer["venv"] / "python", "-c", "import netsight.asynchronous as p; print(p.__file__)"],
            capture_output=True, check=True, text=True,
        ).stdout
        self.assertIn("/site-packages/netsight/asynchronous/", where)
