"""Test layers: a Plone site with netsight.asyncdemo installed."""

from plone.app.testing import FunctionalTesting
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
NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING = FunctionalTesting(
    bases=(NETSIGHT_ASYNCDEMO_FIXTURE,), name="NetsightAsyncDemo:Functional"
)
