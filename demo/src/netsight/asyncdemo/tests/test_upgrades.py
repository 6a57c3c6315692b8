"""The demo profile's upgrade to 1003: its mail settings only where a site has none."""

from netsight.asyncdemo.testing import NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

import unittest


PROFILE = "netsight.asyncdemo:default"
BLACKLIST = "plone.app.theming.interfaces.IThemeSettings.hostnameBlacklist"


class TestUpgradeTo1003(unittest.TestCase):
    layer = NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.setup = self.portal.portal_setup
        self.settings = getUtility(IRegistry, context=self.portal)

    def upgrade_from_1002(self):
        self.setup.setLastVersionForProfile(PROFILE, "1002")
        self.setup.upgradeProfile(PROFILE)
        self.assertEqual(self.setup.getLastVersionForProfile(PROFILE), ("1003",))

    def test_an_administrators_settings_stay(self):
        self.settings["plone.email_from_address"] = "webmaster@example.org"
        self.settings["plone.email_from_name"] = "Our site"
        self.settings["plone.smtp_host"] = "mail.example.org"
        self.settings["plone.smtp_port"] = 587
        self.settings[BLACKLIST] = ["127.0.0.1"]  # the admin unthemes 127.0.0.1 again
        self.upgrade_from_1002()
        self.assertEqual(self.settings["plone.email_from_address"], "webmaster@example.org")
        self.assertEqual(self.settings["plone.email_from_name"], "Our site")
        self.assertEqual(self.settings["plone.smtp_host"], "mail.example.org")
        self.assertEqual(self.settings["plone.smtp_port"], 587)
        self.assertEqual(self.settings[BLACKLIST], ["127.0.0.1"])

    def test_the_demos_mail_settings_where_the_site_has_none(self):
        self.settings["plone.email_from_address"] = None
        self.settings["plone.email_from_name"] = None
        self.upgrade_from_1002()
        self.assertEqual(self.settings["plone.email_from_address"], "demo@localhost")
        self.assertEqual(self.settings["plone.email_from_name"], "netsight.async demo")
