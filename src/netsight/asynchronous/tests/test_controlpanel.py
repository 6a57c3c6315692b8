"""The control panel "Background processes": the site's settings in its registry, over zope.conf and the environment."""

from netsight.asynchronous import settings
from netsight.asynchronous.interfaces import IBackgroundProcessesSettings
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.views import SteadyFixedPolls
from plone.registry.interfaces import IRegistry
from urllib.parse import urlencode
from zope.component import getUtility
from zope.component.hooks import setSite

import lxml.html
import os
import transaction


PROFILE = "netsight.async:default"
FIELDS = ("pool_size", "expiry", "progress_interval", "poll_start", "poll_growth", "poll_interval")


def configlets(portal):
    """Site Setup's entries by id."""
    return {configlet.getId(): configlet for configlet in portal.portal_controlpanel.listActions()}


class TestControlPanel(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.panel_url = f"{self.site_url}/@@netsight-async-controlpanel"
        self.addCleanup(setSite, None)

    def site_setting(self, name):
        """``settings.get(name)`` as a request of the site reads it."""
        transaction.begin()  # what the browser committed
        setSite(self.portal)
        try:
            return settings.get(name)
        finally:
            setSite(None)

    def poll_data(self):
        """How the processing page in the browser polls: start, growth, longest (ms)."""
        data = lxml.html.fromstring(self.browser.text).get_element_by_id("netsight-async-processing").attrib
        return data["data-poll-start"], data["data-poll-growth"], data["data-poll-max"]

    def save(self, **values):
        manager = owner_browser(self.app, self.site_url)
        manager.open(self.panel_url)
        form = {f"form.widgets.{name}": value for name, value in values.items()}
        form["form.buttons.save"] = "Save"
        form["_authenticator"] = manager.getControl(name="_authenticator").value
        manager.post(self.panel_url, urlencode(form))
        self.assertEqual(manager.status, 302, manager.text[:500])
        return manager

    def test_the_records_are_in_the_registry_empty(self):
        records = getUtility(IRegistry).forInterface(IBackgroundProcessesSettings, prefix="netsight.async")
        for name in FIELDS:
            self.assertIsNone(getattr(records, name), name)

    def test_in_site_setup_for_a_manager(self):
        configlet = configlets(self.portal)["netsight-async"]
        self.assertEqual((configlet.category, configlet.permissions), ("Products", ("netsight.async: Manage processes",)))
        self.assertEqual(configlet.title, "Background processes")
        self.assertTrue(configlet.action.text.endswith("/@@netsight-async-controlpanel"))
        manager = owner_browser(self.app, self.site_url)
        manager.open(self.panel_url)
        self.assertEqual(manager.status, 200)
        self.assertIn("<h1>Background processes</h1>", manager.text)
        for name in FIELDS:
            self.assertEqual(manager.getControl(name=f"form.widgets.{name}").value, "", name)
        # The instance's settings, read only: pool-size and the others from zope.conf or the environment.
        table = lxml.html.fromstring(manager.text).find_class("netsight-async-instance-settings")[0]
        names = [code.text for code in table.iter("code")]
        self.assertIn("pool-size", names)
        self.assertIn("heartbeat-timeout", names)
        self.assertIn("progress-interval", names)  # the instance's, which an empty field takes

    def test_refused_for_a_member(self):
        self.browser.open(self.panel_url)
        self.assertNotEqual(self.browser.status, 200)
        self.assertNotIn("form.widgets.poll_start", self.browser.text)

    def test_without_a_value_the_instance_settings_apply(self):
        self.assertEqual(os.environ["NETSIGHT_ASYNC_PROGRESS_INTERVAL"], "0")  # the layer's
        self.assertEqual(self.site_setting("progress-interval"), 0.0)
        self.assertEqual(self.site_setting("poll-start"), 0.25)
        self.assertEqual(self.site_setting("poll-interval"), 5)

    def test_without_a_value_the_page_polls_as_before(self):
        job = HeldJob(self, 40)
        job.reached()
        self.browser.open(f"{job.url}/processing?process_id={job.process_id}")
        self.assertEqual(self.poll_data(), ("250", "1.5", "5000"))
        self.assertIn('<noscript><meta http-equiv="refresh" content="5"', self.browser.text)
        job.go_on()

    def test_a_saved_value_is_the_sites_setting(self):
        self.save(progress_interval="2.5", poll_start="1", poll_interval="20")
        self.assertEqual(self.site_setting("progress-interval"), 2.5)  # over the environment
        self.assertEqual(self.site_setting("poll-start"), 1.0)
        self.assertEqual(self.site_setting("poll-growth"), 1.5)  # left empty
        # Outside a request of the site (the instance's threads): the instance's.
        self.assertEqual(settings.get("progress-interval"), 0.0)
        self.assertEqual(settings.get("poll-start"), 0.25)
        # The processing page polls as the site says, unless its view sets its own.
        job = HeldJob(self, 40)
        job.reached()
        self.browser.open(f"{job.url}/processing?process_id={job.process_id}")
        self.assertEqual(self.poll_data(), ("1000", "1.5", "20000"))
        job.go_on()
        self.assertEqual(SteadyFixedPolls.poll_start, 5)
        # Emptied again: the instance's settings.
        self.save(progress_interval="", poll_start="", poll_interval="")
        self.assertEqual(self.site_setting("progress-interval"), 0.0)
        self.assertEqual(self.site_setting("poll-start"), 0.25)

    def test_a_view_keeps_its_own_poll_timings(self):
        self.save(poll_start="1", poll_growth="2")
        setSite(self.portal)
        view = SteadyFixedPolls(self.portal, self.layer["request"])
        self.assertEqual((view.poll_start, view.poll_growth, view.poll_interval), (5, 1, 5.0))
        view.poll_interval = 7
        self.assertEqual(view.poll_interval, 7)

    def test_a_value_below_the_minimum_is_refused(self):
        manager = owner_browser(self.app, self.site_url)
        manager.open(self.panel_url)
        form = {"form.widgets.poll_growth": "0.5", "form.buttons.save": "Save"}
        form["_authenticator"] = manager.getControl(name="_authenticator").value
        manager.post(self.panel_url, urlencode(form))
        self.assertEqual(manager.status, 200)
        self.assertIsNone(getUtility(IRegistry)["netsight.async.poll_growth"])

    def test_a_saved_value_needs_the_csrf_token(self):
        manager = owner_browser(self.app, self.site_url)
        manager.post(self.panel_url, urlencode({"form.widgets.poll_start": "3", "form.buttons.save": "Save"}))
        # plone.protect aborts the write (the form still redirects to itself).
        self.assertEqual(manager.status, 302)
        transaction.begin()
        self.assertIsNone(getUtility(IRegistry)["netsight.async.poll_start"])


class TestUpgrades(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_the_upgrade_from_1002_adds_the_records_and_the_configlet(self):
        setup, registry = self.portal.portal_setup, getUtility(IRegistry)
        setup.runAllImportStepsFromProfile("profile-netsight.async:uninstall")
        self.assertNotIn("netsight.async.poll_start", registry.records)
        self.assertNotIn("netsight-async", configlets(self.portal))
        setup.setLastVersionForProfile(PROFILE, "1002")
        titles = [step["title"] for step in setup.listUpgrades(PROFILE)]
        self.assertEqual(
            titles,
            [
                "The control panel Background processes",
                "The queue limit in the control panel Background processes",
                "The cap of one user's jobs in the control panel Background processes",
                "The expiry and the site's jobs at once in the control panel Background processes",
                "Everything of the profile, the browser layer among it",
                "Keep a shown result; My processes above Log out",
                "The registry of processes under one key of the database's root",
                "My processes' icon",
                "A century at most for the settings of seconds",
            ],
        )
        setup.upgradeProfile(PROFILE)
        self.assertEqual(setup.getLastVersionForProfile(PROFILE), ("1011",))
        self.assertIn("netsight.async.poll_start", registry.records)
        self.assertIsNone(registry["netsight.async.poll_start"])
        self.assertIn("netsight-async", configlets(self.portal))

    def upgraded_from(self, version, missing):
        """The site's registry after the upgrade from ``version``, which lacked the record ``missing``."""
        setup, registry = self.portal.portal_setup, getUtility(IRegistry)
        del registry.records[missing]  # as a site at ``version`` has it
        setup.setLastVersionForProfile(PROFILE, version)
        setup.upgradeProfile(PROFILE)
        self.assertEqual(setup.getLastVersionForProfile(PROFILE), ("1011",))
        return registry

    def test_the_upgrade_from_1003_adds_the_queue_limit(self):
        registry = self.upgraded_from("1003", "netsight.async.queue_limit")
        self.assertIsNone(registry["netsight.async.queue_limit"])
        self.assertIsNone(registry["netsight.async.poll_start"])  # the others are left alone

    def test_the_upgrade_from_1004_adds_the_cap_of_one_users_jobs(self):
        registry = self.upgraded_from("1004", "netsight.async.max_per_user")
        self.assertIsNone(registry["netsight.async.max_per_user"])

    def test_the_upgrade_from_1007_adds_keep_result(self):
        registry = self.upgraded_from("1007", "netsight.async.keep_result")
        self.assertIsNone(registry["netsight.async.keep_result"])

    def test_the_upgrade_to_1011_makes_more_than_a_century_a_century(self):
        """Before 1011 the fields had no maximum: an expiry of 1e12 s was saved, and broke the lists."""
        setup, registry = self.portal.portal_setup, getUtility(IRegistry)
        for version in ("1010", "1006"):  # 1007 and 1008 import the records again too: they would empty it
            with self.subTest(upgraded_from=version):
                savepoint = transaction.savepoint()
                try:
                    for name, value in (("expiry", 1e12), ("keep_result", 600.0)):
                        record = registry.records[f"netsight.async.{name}"]
                        record.field.max = None  # as a site of before 1011 has it
                        record.value = value
                    setup.setLastVersionForProfile(PROFILE, version)
                    with self.assertLogs("netsight.async", "WARNING") as logs:
                        setup.upgradeProfile(PROFILE)
                    self.assertIn("netsight.async.expiry = 1000000000000.0 is above a century", "\n".join(logs.output))
                    self.assertEqual(registry["netsight.async.expiry"], settings.LONGEST)
                    self.assertEqual(registry["netsight.async.keep_result"], 600.0)  # kept
                    self.assertEqual(registry.records["netsight.async.expiry"].field.max, settings.LONGEST)
                finally:
                    savepoint.rollback()

    def test_the_upgrade_from_1005_adds_the_expiry_and_the_sites_jobs_at_once(self):
        registry = self.upgraded_from("1005", "netsight.async.expiry")
        self.assertIsNone(registry["netsight.async.expiry"])
        self.assertIsNone(registry["netsight.async.pool_size"])
