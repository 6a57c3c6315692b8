"""Installing netsight.async: the 2011 import path and ZCML, the profiles, the layer."""

from netsight.asynchronous import BaseAsyncView
from netsight.asynchronous.interfaces import INetsightAsyncLayer
from netsight.asynchronous.testing import NETSIGHT_ASYNC_INTEGRATION_TESTING
from plone.base.interfaces import INonInstallable
from plone.browserlayer.utils import registered_layers
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

import importlib
import unittest


class TestCompatibility(unittest.TestCase):
    def test_the_2011_import_path(self):
        module = importlib.import_module("netsight.async.browser.BaseAsyncView")
        self.assertIs(module.BaseAsyncView, BaseAsyncView)

    def test_netsight_is_a_native_namespace(self):
        import netsight

        self.assertIsNone(getattr(netsight, "__file__", None))


class TestInstall(unittest.TestCase):
    layer = NETSIGHT_ASYNC_INTEGRATION_TESTING

    def setUp(self):
        self.setup = self.layer["portal"].portal_setup

    def test_installed_with_the_netsight_async_profile(self):
        self.assertEqual(self.setup.getLastVersionForProfile("netsight.async:default"), ("1011",))
        self.assertIn(INetsightAsyncLayer, registered_layers())

    def test_the_settings_and_their_control_panel(self):
        self.assertIsNone(getUtility(IRegistry)["netsight.async.progress_interval"])
        self.assertIn("netsight-async", self.configlets())

    def test_uninstall_removes_the_layer_the_settings_and_the_control_panel(self):
        self.setup.runAllImportStepsFromProfile("profile-netsight.async:uninstall")
        self.assertNotIn(INetsightAsyncLayer, registered_layers())
        self.assertNotIn("netsight.async.progress_interval", getUtility(IRegistry).records)
        self.assertNotIn("netsight-async", self.configlets())

    def configlets(self):
        return [configlet.getId() for configlet in self.layer["portal"].portal_controlpanel.listActions()]

    def test_the_uninstall_profile_is_hidden(self):
        hidden = getUtility(INonInstallable, "netsight.async").getNonInstallableProfiles()
        self.assertEqual(hidden, ["netsight.async:uninstall"])
