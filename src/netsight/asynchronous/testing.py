"""Test layers: netsight.async in a Plone site, and in plain Zope.

Both load the add-on through its 2011 ZCML entry point (``netsight.async``)
and the test views of ``netsight.asynchronous.tests``. The functional layers
give each test a DemoStorage of its own; jobs run in real threads against it,
and the maintenance thread lets go of it before it is closed.
"""

from plone.app.testing import FunctionalTesting
from plone.app.testing import IntegrationTesting
from plone.app.testing import PLONE_FIXTURE
from plone.app.testing import PloneSandboxLayer
from plone.testing import Layer
from plone.testing import zca
from plone.testing import zodb
from plone.testing import zope as zope_testing
from zope.component.hooks import setSite
from zope.configuration import xmlconfig

from netsight.asynchronous import internals
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.pool import POOL

import importlib
import os
import sys
import time
import zope.i18n.config


def load_zcml(context):
    """The add-on (by its old name) and the test views, into ``context``."""
    # Plone instances compile .po files at start-up; the tests do the same.
    zope.i18n.config.COMPILE_MO_FILES = True
    xmlconfig.file("configure.zcml", importlib.import_module("netsight.async"), context=context)
    xmlconfig.file("views.zcml", importlib.import_module("netsight.asynchronous.tests.helpers"), context=context)


class ConflictRetries(Layer):
    """Retry ConflictErrors as a Zope instance does (max-conflict-retries: 3)."""

    def setUp(self):
        self._retries = internals.set_conflict_retries(3)

    def tearDown(self):
        internals.set_conflict_retries(self._retries)


CONFLICT_RETRIES = ConflictRetries()


class EachReportWritten(Layer):
    """``progress-interval`` 0: every ``set_progress`` is written at once, so
    that a test sees each value it waits for (test_progress_writes.py sets
    the interval of its own)."""

    def setUp(self):
        self._interval = os.environ.get(PROGRESS_INTERVAL)
        os.environ[PROGRESS_INTERVAL] = "0"

    def tearDown(self):
        if self._interval is None:
            os.environ.pop(PROGRESS_INTERVAL, None)
        else:
            os.environ[PROGRESS_INTERVAL] = self._interval


PROGRESS_INTERVAL = "NETSIGHT_ASYNC_PROGRESS_INTERVAL"
EACH_REPORT_WRITTEN = EachReportWritten()


class NetsightAsyncPloneLayer(PloneSandboxLayer):
    defaultBases = (PLONE_FIXTURE, CONFLICT_RETRIES, EACH_REPORT_WRITTEN)

    def setUpZope(self, app, configurationContext):
        load_zcml(configurationContext)

    def setUpPloneSite(self, portal):
        self.applyProfile(portal, "netsight.async:default")


ZOPE_MANAGER_NAME = "admin"
ZOPE_MANAGER_PASSWORD = "secret"


class NetsightAsyncZopeLayer(Layer):
    """Plain Zope: no Plone, no main_template, no plone.protect; a Manager at the root."""

    defaultBases = (zope_testing.STARTUP, CONFLICT_RETRIES, EACH_REPORT_WRITTEN)

    def setUp(self):
        zca.pushGlobalRegistry()
        self["configurationContext"] = context = zca.stackConfigurationContext(
            self.get("configurationContext")
        )
        # As a Zope instance loads it (five:loadProducts): Chameleon templates.
        xmlconfig.file("configure.zcml", importlib.import_module("Products.PageTemplates"), context=context)
        load_zcml(context)
        self["zodbDB"] = zodb.stackDemoStorage(self.get("zodbDB"), name="NetsightAsyncZope")
        with zope_testing.zopeApp() as app:
            app.acl_users.userFolderAddUser(ZOPE_MANAGER_NAME, ZOPE_MANAGER_PASSWORD, ["Manager"], [])

    def tearDown(self):
        self["zodbDB"].close()
        del self["zodbDB"]
        del self["configurationContext"]
        zca.popGlobalRegistry()


class ReleasedDatabase:
    """A functional layer that closes each test's database once no job uses it.

    Before plone.testing closes it, the test's jobs end (running and
    queued), the maintenance thread lets go of it, and the requests still
    served on it (a browser's last poll) end: closing the database closes
    the connections that other threads still use, and fails (a KeyError
    that stops the test runner).
    """

    release_timeout = 30  # seconds the jobs and requests may take to end

    def testTearDown(self):
        db = self["zodbDB"]
        deadline = time.monotonic() + self.release_timeout
        while True:
            MAINTENANCE.release(db)  # again each time: a job that started meanwhile watches it
            busy = POOL.counts()[:2] != (0, 0)
            opened = [info for info in db.connectionDebugInfo() if info["opened"]]
            if not busy and len(opened) <= 1:  # the test's own connection, closed below
                break
            if time.monotonic() > deadline:
                sys.stderr.write(
                    f"The test's database closes with jobs {POOL.counts()[:2]} (running, queued) "
                    f"and connections open: {opened}\n"
                )
                break
            time.sleep(0.01)
        super().testTearDown()


class JobsFunctionalTesting(ReleasedDatabase, FunctionalTesting):
    """plone.app.testing's FunctionalTesting, for tests that run jobs."""


class JobsZopeFunctionalTesting(ReleasedDatabase, zope_testing.FunctionalTesting):
    """plone.testing's FunctionalTesting (plain Zope), for tests that run jobs."""


NETSIGHT_ASYNC_FIXTURE = NetsightAsyncPloneLayer()
NETSIGHT_ASYNC_INTEGRATION_TESTING = IntegrationTesting(
    bases=(NETSIGHT_ASYNC_FIXTURE,), name="NetsightAsync:Integration"
)
NETSIGHT_ASYNC_FUNCTIONAL_TESTING = JobsFunctionalTesting(
    bases=(NETSIGHT_ASYNC_FIXTURE,), name="NetsightAsync:Functional"
)

NETSIGHT_ASYNC_ZOPE_FIXTURE = NetsightAsyncZopeLayer()
NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING = JobsZopeFunctionalTesting(
    bases=(NETSIGHT_ASYNC_ZOPE_FIXTURE,), name="NetsightAsync:ZopeFunctional"
)


class LoopbackWSGIServer(zope_testing.WSGIServer):
    """plone.testing's WSGI server (waitress, in this process, on a free
    port), on the loopback interface only, whatever WSGI_SERVER_HOST says.

    Each request begins without a component site, as in a new thread: a
    server thread keeps the site of its last request (thread-local), and
    under the next layer that shares this server (RestAPI after Chromium)
    the request's first events went to the old layer's registry, where
    plone.rest marks no API request: its service answered Plone's 404.
    """

    host = "127.0.0.1"

    def make_wsgi_app(self):
        app = super().make_wsgi_app()

        def without_a_site(environ, start_response):
            setSite(None)  # Zope sets the site again when traversal reaches it
            return app(environ, start_response)

        return without_a_site


# The Chromium tests (tests/system/tests/test_chromium.py, bench/latency.py): the Plone
# site served over HTTP, each test's DemoStorage behind it; the resources
# "host" and "port" give its address (chromium_server_url).
LOOPBACK_WSGI_SERVER = LoopbackWSGIServer()
NETSIGHT_ASYNC_CHROMIUM_TESTING = JobsFunctionalTesting(
    bases=(NETSIGHT_ASYNC_FIXTURE, LOOPBACK_WSGI_SERVER), name="NetsightAsync:Chromium"
)


def chromium_server_url(layer):
    """The server's root URL, by IP: plone.testing names it "localhost",
    which a browser may try on ::1 first, where nothing listens."""
    host = layer["host"]
    if host in ("localhost", "0.0.0.0"):
        host = "127.0.0.1"
    return f"http://{host}:{layer['port']}"


# The JSON API (restapi/, tests/test_restapi.py): plone.restapi loaded and
# installed in the site, a second member, and the site served over HTTP.
OTHER_MEMBER_NAME = "other-member"
OTHER_MEMBER_PASSWORD = "other-secret"


class NetsightAsyncRestAPILayer(PloneSandboxLayer):
    """The Plone site of NETSIGHT_ASYNC_FIXTURE with plone.restapi, and another member."""

    defaultBases = (NETSIGHT_ASYNC_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        self.loadZCML(package=importlib.import_module("plone.restapi"))
        zope_testing.installProduct(app, "plone.restapi")  # its PAS plugin, which its profile adds

    def setUpPloneSite(self, portal):
        self.applyProfile(portal, "plone.restapi:default")  # Anonymous may use the REST API
        portal.acl_users.userFolderAddUser(OTHER_MEMBER_NAME, OTHER_MEMBER_PASSWORD, ["Member"], [])

    def tearDownZope(self, app):
        zope_testing.uninstallProduct(app, "plone.restapi")


NETSIGHT_ASYNC_RESTAPI_FIXTURE = NetsightAsyncRestAPILayer()
NETSIGHT_ASYNC_RESTAPI_TESTING = JobsFunctionalTesting(
    bases=(NETSIGHT_ASYNC_RESTAPI_FIXTURE, LOOPBACK_WSGI_SERVER), name="NetsightAsync:RestAPI"
)
