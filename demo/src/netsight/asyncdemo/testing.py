"""Test layers: a Plone site with netsight.asyncdemo installed."""

from netsight.asynchronous.testing import CONFLICT_RETRIES
from netsight.asynchronous.testing import EACH_REPORT_WRITTEN
from netsight.asynchronous.testing import JobsFunctionalTesting
from netsight.asynchronous.testing import LOOPBACK_WSGI_SERVER
from plone.app.testing import PLONE_FIXTURE
from plone.app.testing import PloneSandboxLayer

import zope.i18n.config


class NetsightAsyncDemoLayer(PloneSandboxLayer):
    defaultBases = (PLONE_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        import netsight.asyncdemo

        # As zope_i18n_compile_mo_files does in the demo instance.
        zope.i18n.config.COMPILE_MO_FILES = True
        self.loadZCML(package=netsight.asyncdemo)

    def setUpPloneSite(self, portal):
        self.applyProfile(portal, "netsight.asyncdemo:default")


NETSIGHT_ASYNCDEMO_FIXTURE = NetsightAsyncDemoLayer()
NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING = JobsFunctionalTesting(
    bases=(NETSIGHT_ASYNCDEMO_FIXTURE,), name="NetsightAsyncDemo:Functional"
)


# The demo site served over HTTP on 127.0.0.1 (test_chromium_look.py): the
# host Plone leaves unthemed by default, themed by the demo's profile. Each
# report of the job is written at once, as in netsight.async's own tests.
NETSIGHT_ASYNCDEMO_CHROMIUM_TESTING = JobsFunctionalTesting(
    bases=(NETSIGHT_ASYNCDEMO_FIXTURE, LOOPBACK_WSGI_SERVER, CONFLICT_RETRIES, EACH_REPORT_WRITTEN),
    name="NetsightAsyncDemo:Chromium",
)
