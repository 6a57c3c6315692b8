"""A database that used 1.x: its process registry at the Zope root loads, and goes.

1.1 kept its processes in ``netsight_async_process_registry``, an object of
class ``netsight.async.registry.ProcessRegistry`` in the Zope root. These
tests store such an object (its class is a throwaway one under the 1.x name
while it is stored), then load it as the stand-in class or, its module
gone, as a broken object; the upgrade step, the install and zodbupdate's
rename rule deal with it. A site upgraded from 1.x, or from any version
since, ends as a fresh install makes it (``TestUpgradedEqualsInstalled``).
"""

from Acquisition import aq_base
from contextlib import contextmanager
from netsight.asynchronous.legacy import LegacyProcessRegistry
from netsight.asynchronous.legacy import REGISTRY_ID
from netsight.asynchronous.legacy import remove_1x_registry
from netsight.asynchronous.setuphandlers import remove_1x_process_registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.sitestate import add_site
from netsight.asynchronous.tests.helpers.sitelayers import TWO_SITES_TESTING
from netsight.asynchronous.tests.helpers.sitestate import site_state
from OFS.Folder import Folder
from OFS.SimpleItem import SimpleItem
from OFS.Uninstalled import BrokenClass
from pathlib import Path
from plone.base.utils import get_installer
from persistent.mapping import PersistentMapping
from ZODB import DB
from ZODB.broken import Broken
from ZODB.FileStorage import FileStorage
from ZODB.utils import get_pickle_metadata
from zope.component.hooks import getSite
from zope.component.hooks import setSite
from Zope2.App.ClassFactory import ClassFactory

import subprocess
import sys
import tempfile
import transaction
import types
import unittest
import warnings
import zodbupdate.main


OLD_MODULE = "netsight.async.registry"
OLD_CLASS = (OLD_MODULE, "ProcessRegistry")
NEW_CLASS = ("netsight.asynchronous.legacy", "LegacyProcessRegistry")
PROFILE = "netsight.async:default"
STEP_TITLE = "Remove the process registry of netsight.async 1.x"
MISSING = object()


@contextmanager
def module_as(name, module):
    """``sys.modules[name]`` is ``module`` meanwhile (None: it cannot be imported)."""
    saved = sys.modules.get(name, MISSING)
    sys.modules[name] = module
    try:
        yield
    finally:
        if saved is MISSING:
            del sys.modules[name]
        else:
            sys.modules[name] = saved


def one_x_module():
    """A throwaway module in place of 1.x's ``netsight.async.registry``."""
    module = types.ModuleType(OLD_MODULE)

    class ProcessRegistry(SimpleItem):
        __module__ = OLD_MODULE

    module.ProcessRegistry = ProcessRegistry
    return module


def store_1x_registry(db, root_name="Application"):
    """Commit a 1.x process registry with two processes in the Zope root of
    ``db``, as 1.1 added it (an id in ``_objects``, an attribute), on a
    connection of its own; no object of the throwaway class stays in that
    connection's cache."""
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        with module_as(OLD_MODULE, one_x_module()):
            app = connection.root()[root_name]
            registry = sys.modules[OLD_MODULE].ProcessRegistry()
            registry._process_registry = PersistentMapping(
                {
                    "2b7e1f3c9a4d4f0e8c1a5b6d7e8f9a0b": PersistentMapping({"completed": 40, "result": None}),
                    "9c1d2e3f4a5b4c6d8e7f0a1b2c3d4e5f": PersistentMapping(
                        {"completed": True, "result": (200, {"content-type": "text/html"}, {}, b"<p>1.x</p>")}
                    ),
                }
            )
            app._objects = app._objects + ({"id": REGISTRY_ID, "meta_type": "simple item"},)
            setattr(app, REGISTRY_ID, registry)
            manager.commit()
            del app, registry
            connection.cacheMinimize()
    finally:
        connection.close()


def class_in_pickle(storage, oid):
    """(module, class name) of the record ``oid`` as stored."""
    data, _serial = storage.load(oid)
    return get_pickle_metadata(data)


class TestUpgradingASite(JobTestCase):
    """A Plone site whose database still holds the 1.x registry."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.setup = self.portal.portal_setup
        store_1x_registry(self.layer["zodbDB"])
        transaction.begin()  # the test's connection sees the stored registry

    def assert_removed(self):
        self.assertNotIn(REGISTRY_ID, self.app.objectIds())
        self.assertNotIn(REGISTRY_ID, aq_base(self.app).__dict__)
        self.assertFalse(hasattr(aq_base(self.app), REGISTRY_ID))

    def assert_a_job_runs(self):
        url, process_id, answer = self.run_job("hello")
        self.assertEqual(answer["state"], "done")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")

    def test_the_zope_root_loads_with_the_stand_in(self):
        self.assertIn(REGISTRY_ID, self.app.objectIds())
        registry = getattr(aq_base(self.app), REGISTRY_ID)
        self.assertIsInstance(registry, LegacyProcessRegistry)
        self.assertEqual(len(registry._process_registry), 2)
        self.assertEqual(len(self.app.objectValues()), len(self.app.objectIds()))
        transaction.commit()
        self.browser.open(self.site_url)
        self.assertEqual(self.browser.status, 200)
        owner = owner_browser(self.app, self.site_url)
        owner.open(f"{self.app.absolute_url()}/manage_main")  # the ZMI lists it
        self.assertEqual(owner.status, 200)
        self.assertIn(REGISTRY_ID, owner.text)

    def test_the_upgrade_step_is_offered_from_1x_and_from_1000(self):
        for version in ("1.0.0", "1000"):
            self.setup.setLastVersionForProfile(PROFILE, version)
            titles = [step["title"] for step in self.setup.listUpgrades(PROFILE)]
            self.assertIn(STEP_TITLE, titles, version)
        self.setup.setLastVersionForProfile(PROFILE, "1011")
        self.assertEqual(self.setup.listUpgrades(PROFILE), [])

    def test_the_upgrade_removes_it_and_jobs_run(self):
        self.setup.setLastVersionForProfile(PROFILE, "1.0.0")  # as the 1.x site left it
        with self.assertLogs("netsight.async", "INFO") as logs:
            self.setup.upgradeProfile(PROFILE)
        self.assertIn("LegacyProcessRegistry", logs.output[0])
        self.assertIn("its 2 process records", logs.output[0])
        self.assertEqual(self.setup.getLastVersionForProfile(PROFILE), ("1011",))
        self.assert_removed()
        transaction.commit()
        transaction.begin()
        self.assert_removed()
        # Idempotent: run again, nothing to do.
        self.assertFalse(remove_1x_registry(self.app))
        remove_1x_process_registry(self.setup)
        transaction.commit()
        self.assert_removed()
        self.assert_a_job_runs()

    def test_a_broken_registry_is_removed(self):
        with module_as(OLD_MODULE, None):  # its class cannot be loaded
            registry = getattr(aq_base(self.app), REGISTRY_ID)
            registry._p_activate()
            self.assertIsInstance(registry, Broken)
            self.setup.setLastVersionForProfile(PROFILE, "1.0.0")
            with self.assertLogs("netsight.async", "INFO") as logs:
                self.setup.upgradeProfile(PROFILE)
            self.assertIn("netsight.async.registry.ProcessRegistry", logs.output[0])
            self.assertIn("its 2 process records", logs.output[0])
            self.assert_removed()
            transaction.commit()
        self.assert_a_job_runs()

    def test_installing_the_profile_removes_it(self):
        self.setup.runAllImportStepsFromProfile(f"profile-{PROFILE}")
        self.assert_removed()
        transaction.commit()
        self.assert_a_job_runs()


class OneXDatabase(unittest.TestCase):
    """A FileStorage whose Zope root (a Folder here) holds a 1.x registry."""

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.path = str(Path(directory.name) / "Data.fs")
        db = DB(FileStorage(self.path))
        try:
            with db.transaction() as connection:
                connection.root()["Application"] = Folder("app")
            store_1x_registry(db)
            with db.transaction() as connection:
                self.registry_oid = getattr(connection.root()["Application"], REGISTRY_ID)._p_oid
        finally:
            db.close()

    db = manager = None

    def open(self, **kw):
        """The Zope root in a new DB on the file (the one opened before is closed)."""
        self.close()
        self.db = DB(FileStorage(self.path), **kw)
        self.addCleanup(self.close)
        self.manager = transaction.TransactionManager()
        app = self.db.open(transaction_manager=self.manager).root()["Application"]
        app._p_activate()
        return app, self.manager

    def close(self):
        if self.db is not None:
            self.manager.abort()
            self.db.close()
            self.db = None


class TestRemoval(OneXDatabase):
    def assert_removal(self, app, manager, expected_class):
        registry = app.__dict__[REGISTRY_ID]
        registry._p_activate()
        self.assertIsInstance(registry, expected_class)
        with self.assertLogs("netsight.async", "INFO") as logs:
            self.assertTrue(remove_1x_registry(app))
        self.assertIn("its 2 process records", logs.output[0])
        self.assertFalse(remove_1x_registry(app))
        manager.commit()
        app, manager = self.open()
        self.assertEqual(app.objectIds(), [])
        self.assertNotIn(REGISTRY_ID, app.__dict__)

    def test_loaded_by_its_1x_module_path(self):
        self.assert_removal(*self.open(), LegacyProcessRegistry)

    def test_broken_as_zope_loads_it(self):
        with module_as(OLD_MODULE, None):
            self.assert_removal(*self.open(class_factory=ClassFactory), BrokenClass)

    def test_broken_as_zodb_loads_it(self):
        with module_as(OLD_MODULE, None):
            self.assert_removal(*self.open(), Broken)


class TestZodbupdate(OneXDatabase):
    def assert_renamed(self):
        storage = FileStorage(self.path, read_only=True)
        try:
            self.assertEqual(class_in_pickle(storage, self.registry_oid), NEW_CLASS)
        finally:
            storage.close()
        with module_as(OLD_MODULE, None):  # the 1.x name is no longer needed
            app, _manager = self.open()
            self.assertIsInstance(getattr(app, REGISTRY_ID), LegacyProcessRegistry)

    def update(self, **kw):
        """Run zodbupdate (its Python API) as if no module ``netsight.async.registry``
        existed, so that only the rename rule of the entry point applies."""
        storage = FileStorage(self.path)
        try:
            self.assertEqual(class_in_pickle(storage, self.registry_oid), OLD_CLASS)
            with module_as(OLD_MODULE, None):
                zodbupdate.main.create_updater(storage, **kw)()
        finally:
            storage.close()

    def test_the_entry_point_renames_the_class(self):
        self.assertEqual(zodbupdate.main.load_renames()[OLD_CLASS], NEW_CLASS)
        self.update()
        self.assert_renamed()

    def test_with_the_conversion_to_python_3(self):
        self.update(convert_py3=True, encoding="utf-8")
        self.assert_renamed()

    def test_the_zodbupdate_script(self):
        script = Path(sys.executable).parent / "zodbupdate"
        done = subprocess.run(
            [str(script), "-f", self.path], capture_output=True, text=True, timeout=120, check=False
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("netsight.asynchronous.legacy:RENAMES", done.stderr)
        self.assert_renamed()


@contextmanager
def on_site(site):
    """The component site is ``site`` meanwhile (a profile's import steps use it)."""
    previous = getSite()
    setSite(site)
    try:
        yield site
    finally:
        setSite(previous)


class TestUpgradedEqualsInstalled(JobTestCase):
    maxDiff = None

    """A site upgraded from 1.x, or from any version before, is as a fresh install makes it.

    Two new sites, made alike (once for all the tests, TWO_SITES_TESTING):
    one where the add-on is installed (the Install button), one as 1.x left
    it (the profile at 1.0.0, the 1.x registry in the Zope root). Their layers, local utilities, registry
    records, actions, configlets, role/permission map and profile version
    are compared whole (``sitestate.site_state``).
    """

    layer = TWO_SITES_TESTING  # "used" and "never", added once (sitelayers.py)

    def setUp(self):
        super().setUp()
        self.fresh = self.app["used"]
        self.old = self.app["never"]
        with on_site(self.old):
            self.old.portal_setup.setLastVersionForProfile(PROFILE, "1.0.0")
        transaction.commit()
        store_1x_registry(self.layer["zodbDB"])
        transaction.begin()

    def state(self, site):
        with on_site(site):
            return site_state(site)

    def upgrade(self, dest=None):
        with on_site(self.old):
            self.old.portal_setup.upgradeProfile(PROFILE, dest=dest)

    def test_the_upgrade_from_1x_gives_a_fresh_install(self):
        self.assertNotEqual(self.state(self.old), self.state(self.fresh))
        self.upgrade()
        self.assertEqual(self.state(self.old), self.state(self.fresh))
        self.assertNotIn(REGISTRY_ID, self.app.objectIds())
        transaction.commit()
        # What a Manager sees: Site Setup's Background processes, All processes, My processes.
        owner = owner_browser(self.app, self.old.absolute_url())
        for page in ("@@overview-controlpanel", "@@netsight-async-controlpanel", "@@netsight-async-processes"):
            owner.open(f"{self.old.absolute_url()}/{page}")
            self.assertEqual(owner.status, 200, page)
        owner.open(f"{self.old.absolute_url()}/@@overview-controlpanel")
        self.assertIn(f"{self.old.absolute_url()}/@@netsight-async-controlpanel", owner.text)
        owner.open(self.old.absolute_url())
        self.assertIn("@@my-processes", owner.text)

    def test_the_upgrade_from_each_version_gives_a_fresh_install(self):
        fresh = self.state(self.fresh)
        versions = ("1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010")
        for version in versions:  # a site that stopped at an upgrade step before
            with self.subTest(upgraded_to=version):
                savepoint = transaction.savepoint()
                try:
                    self.upgrade(dest=version)
                    with on_site(self.old):
                        self.assertEqual(self.old.portal_setup.getLastVersionForProfile(PROFILE), (version,))
                    self.upgrade()
                    self.assertEqual(self.state(self.old), fresh)
                finally:
                    savepoint.rollback()
        for version in versions:  # a site installed when its version was the newest
            with self.subTest(installed_at=version):
                savepoint = transaction.savepoint()
                try:
                    with on_site(self.fresh):
                        self.fresh.portal_setup.setLastVersionForProfile(PROFILE, version)
                        self.fresh.portal_setup.upgradeProfile(PROFILE)
                    self.assertEqual(self.state(self.fresh), fresh)
                finally:
                    savepoint.rollback()

    def test_a_hidden_my_processes_stays_hidden_after_the_upgrade(self):
        # A site at 1006 whose administrator hid My processes (Site Setup >
        # Actions), and Background processes in Site Setup.
        with on_site(self.fresh):
            action = self.fresh.portal_actions.user["netsight-async-processes"]
            action.manage_changeProperties(visible=False, title="Jobs")
            (configlet,) = [c for c in self.fresh.portal_controlpanel.listActions() if c.getId() == "netsight-async"]
            configlet.visible = False
        customised = self.state(self.fresh)
        with on_site(self.fresh):
            self.fresh.portal_setup.setLastVersionForProfile(PROFILE, "1006")
            self.fresh.portal_setup.upgradeProfile(PROFILE)
        self.assertEqual(self.state(self.fresh), customised)  # 1008, the action as it was
        transaction.commit()
        owner = owner_browser(self.app, self.fresh.absolute_url())
        owner.open(self.fresh.absolute_url())
        self.assertNotIn("@@my-processes", owner.text)
        self.assertNotIn("Jobs", owner.text)

    def test_the_upgrade_from_1007_moves_my_processes_above_log_out(self):
        # A site at 1007 had My processes last in the personal menu, below
        # Log out; its administrator hid it. The upgrade moves it, hidden still.
        with on_site(self.fresh):
            user = self.fresh.portal_actions.user
            self.assertEqual(user.objectIds()[-2:], ["netsight-async-processes", "logout"])  # a fresh install's
            user.moveObjectsToBottom(["netsight-async-processes"])
            user["netsight-async-processes"].manage_changeProperties(visible=False)
            hidden = self.state(self.fresh)["actions"]["user"][-1]
            self.fresh.portal_setup.setLastVersionForProfile(PROFILE, "1007")
            self.fresh.portal_setup.upgradeProfile(PROFILE)
            self.assertEqual(user.objectIds()[-2:], ["netsight-async-processes", "logout"])
        self.assertEqual(self.state(self.fresh)["actions"]["user"][-2], hidden)

    def test_an_upgrade_adds_my_processes_where_it_is_missing(self):
        with on_site(self.fresh):
            self.fresh.portal_actions.user.manage_delObjects(["netsight-async-processes"])
            self.fresh.portal_setup.setLastVersionForProfile(PROFILE, "1006")
            self.fresh.portal_setup.upgradeProfile(PROFILE)
        self.assertEqual(self.state(self.fresh), self.state(self.fresh_copy()))

    def test_the_upgrade_to_1010_gives_my_processes_its_icon_and_keeps_a_sites_own(self):
        fresh = self.state(self.fresh)
        with on_site(self.fresh):
            action = self.fresh.portal_actions.user["netsight-async-processes"]
            self.assertEqual(action.getProperty("icon_expr"), "string:hourglass-split")  # a fresh install's
            action.manage_changeProperties(  # as actions.xml gave them before 1010
                icon_expr="", url_expr="string:${globals_view/navigationRootUrl}/@@my-processes"
            )
            self.fresh.portal_setup.setLastVersionForProfile(PROFILE, "1009")
            self.fresh.portal_setup.upgradeProfile(PROFILE)
        self.assertEqual(self.state(self.fresh), fresh)
        with on_site(self.fresh):
            action.manage_changeProperties(icon_expr="string:plone-star")  # the site's own
            self.fresh.portal_setup.setLastVersionForProfile(PROFILE, "1009")
            self.fresh.portal_setup.upgradeProfile(PROFILE)
            self.assertEqual(action.getProperty("icon_expr"), "string:plone-star")

    def test_a_members_page_logs_no_failed_icon_lookup(self):
        # The personal menu's My processes had no icon: every page that showed
        # it logged "Icon resolver lookup of '' failed, fallback to Plone icon."; and its URL, by
        # globals_view/navigationRootUrl, warned "Use method navigation_root_url ..." each time.
        transaction.commit()
        owner = owner_browser(self.app, self.fresh.absolute_url())
        with self.assertNoLogs("Products.CMFPlone.browser.icons", "INFO"), warnings.catch_warnings():
            warnings.filterwarnings("error", "Use method navigation_root_url", DeprecationWarning)
            owner.open(self.fresh.absolute_url())
        self.assertEqual(owner.status, 200)
        self.assertIn("@@my-processes", owner.text)

    def fresh_copy(self):
        """Another fresh install, alike."""
        site = add_site(self.app, "fresh2")
        with on_site(site):
            get_installer(site, self.layer["request"]).install_product("netsight.async")
        return site

    def test_install_on_a_1x_site_without_a_profile_version_gives_a_fresh_install(self):
        # 1.1.1's README never asked to install its profile: many 1.x sites have no version.
        with on_site(self.old):
            self.old.portal_setup.unsetLastVersionForProfile(PROFILE)
            installer = get_installer(self.old, self.layer["request"])
            self.assertFalse(installer.is_product_installed("netsight.async"))
            installer.install_product("netsight.async")
        self.assertEqual(self.state(self.old), self.state(self.fresh))
        self.assertNotIn(REGISTRY_ID, self.app.objectIds())
