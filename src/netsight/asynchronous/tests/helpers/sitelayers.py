"""Layers of more Plone sites than the fixture's, added once per test run instead of in each test's set-up.

A ``SitesFixture`` stacks a DemoStorage of its own on NETSIGHT_ASYNC_FIXTURE's
and adds its sites there once, as a test did before (logged in as the test
user, the fixture's site the component site). Each test of its functional
layer gets a DemoStorage stacked on that one, thrown away after the test:
a test starts with the sites as they were made, whatever the test before
did to them. Adding a Plone site takes about a second; the tests of
install, upgrade and uninstall compare two of them, in every test.
"""

from contextlib import contextmanager
from plone.app.testing.helpers import ploneSite
from plone.base.utils import get_installer
from plone.testing import Layer
from plone.testing import zodb
from zope.component.hooks import getSite
from zope.component.hooks import setSite

from netsight.asynchronous.testing import JobsFunctionalTesting
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FIXTURE
from netsight.asynchronous.tests.helpers.sitestate import add_site


ADDON = "netsight.async"


@contextmanager
def on_site(site):
    """The component site is ``site`` meanwhile (a profile's import steps use it)."""
    previous = getSite()
    setSite(site)
    try:
        yield site
    finally:
        setSite(previous)


class SitesFixture(Layer):
    """NETSIGHT_ASYNC_FIXTURE with the sites that ``make(app, request)`` adds, committed once."""

    defaultBases = (NETSIGHT_ASYNC_FIXTURE,)

    def __init__(self, make, name):
        super().__init__(name=name, module=__name__)
        self.make = make

    def setUp(self):
        self["zodbDB"] = zodb.stackDemoStorage(self.get("zodbDB"), name=self.__name__)
        with ploneSite(self["zodbDB"]) as portal:  # committed at its end
            app = portal.getPhysicalRoot()
            self.make(app, app.REQUEST)

    def tearDown(self):
        self["zodbDB"].close()
        del self["zodbDB"]


def never_and_used(app, request):
    """``never``, a new site without the add-on, and ``used``, one made alike where it is installed (the Install button)."""
    add_site(app, "never")
    used = add_site(app, "used")
    with on_site(used):
        get_installer(used, request).install_product(ADDON)


def site_b(app, request):
    """``B``, a new site beside the fixture's, with the add-on's profile."""
    add_site(app, "B").portal_setup.runAllImportStepsFromProfile(f"profile-{ADDON}:default")


TWO_SITES_FIXTURE = SitesFixture(never_and_used, "NetsightAsync:TwoSites")
TWO_SITES_TESTING = JobsFunctionalTesting(bases=(TWO_SITES_FIXTURE,), name="NetsightAsync:TwoSitesFunctional")

SITE_B_FIXTURE = SitesFixture(site_b, "NetsightAsync:SiteB")
SITE_B_TESTING = JobsFunctionalTesting(bases=(SITE_B_FIXTURE,), name="NetsightAsync:SiteBFunctional")
