"""Uninstall: a site that had the add-on, with jobs in every state, ends as one that never had it.

Two new sites made alike: one never had the add-on, the other installs it,
runs jobs (done with a blob result unfetched, failed, cancelled, running,
queued) and uninstalls it (the Add-ons control panel's installer). Their
set-up is compared whole (``sitestate.site_state``); the database's root
keeps no key of the add-on once no site has processes; the running job's
end writes nothing back, the queued one never runs, and the site serves
no list of processes. ``test_uninstall_subprocess`` does the same in real
instances, then starts Zope without the package.
"""

from contextlib import contextmanager
from netsight.asynchronous import periodic
from netsight.asynchronous import registry
from netsight.asynchronous.faults import Faults
from netsight.asynchronous.legacy import REGISTRY_ID
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.testing import NETSIGHT_ASYNC_RESTAPI_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.sitelayers import TWO_SITES_TESTING
from netsight.asynchronous.tests.helpers.sitestate import site_state
from netsight.asynchronous.tests.test_anonymous import Visitor
from netsight.asynchronous.tests.helpers.views import Gate
from netsight.asynchronous.tests.helpers.views import GATES
from netsight.asynchronous.tests.helpers.views import new_gate
from netsight.asynchronous.tests.test_upgrade_1x import store_1x_registry
from plone.base.utils import get_installer
from plone.registry.interfaces import IRegistry
from zope.component.hooks import getSite
from zope.component.hooks import setSite

import time
import transaction


ADDON = "netsight.async"
BIG = 1024 * 1024  # bytes: a result kept in a blob


@contextmanager
def on_site(site):
    """The component site is ``site`` meanwhile (a profile's import steps use it)."""
    previous = getSite()
    setSite(site)
    try:
        yield site
    finally:
        setSite(previous)


def root_keys(app):
    """The add-on's keys in the root of the main database, as a new transaction sees it."""
    transaction.begin()
    return sorted(key for key in app._p_jar.root().keys() if key.startswith("netsight"))


class SitesTestCase(JobTestCase):
    """Two new sites made alike: ``never`` never has the add-on, ``used`` installs it
    (added once for all the tests, TWO_SITES_TESTING; each test gets them as made)."""

    layer = TWO_SITES_TESTING
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.never = self.app["never"]
        self.used = self.app["used"]
        self.used_url = self.used.absolute_url()
        self.owner = owner_browser(self.app, self.used_url)  # the Zope root's Manager

    def state(self, site):
        with on_site(site):
            return site_state(site)

    def uninstall(self, site):
        transaction.begin()  # as a request: what other connections committed is seen
        with on_site(site):
            installer = get_installer(site, self.layer["request"])
            installer.uninstall_product(ADDON)
            self.assertFalse(installer.is_product_installed(ADDON))
        transaction.commit()

    def start(self, view, **form):
        url = f"{self.used_url}/{view}"
        return url, self.owner.start(url, **form)

    def state_of(self, url, process_id):
        return self.owner.poll(url, process_id)["state"]

    def wait_state(self, url, process_id, state):
        wait_until(lambda: self.state_of(url, process_id) == state, what=f"{process_id} {state}")

    def jobs_in_every_state(self):
        """Jobs of ``used``: done (a blob, unfetched), failed, cancelled, running,
        queued, and an anonymous visitor's queued (its address's keys)."""
        registry_ = self.used.getSiteManager().getUtility(IRegistry)
        registry_["netsight.async.pool_size"] = 1  # one of its jobs at once: the last one waits
        transaction.commit()
        jobs = {}
        jobs["done"] = self.start("big-result", size=str(BIG))
        self.owner.wait_for(*jobs["done"])
        jobs["failed"] = self.start("fails")
        self.owner.wait_for(*jobs["failed"])
        jobs["cancelled"] = self.start("gate", gate=new_gate(self), report="1")
        self.wait_state(*jobs["cancelled"], "running")
        url, process_id = jobs["cancelled"]
        self.owner.post(
            f"{url.rpartition('/')[0]}/@@gate/cancel",
            f"process_id={process_id}&_authenticator={self.owner.token}",
        )
        self.owner.wait_for(*jobs["cancelled"])
        self.running_gate = new_gate(self)
        jobs["running"] = self.start("gate", gate=self.running_gate)
        self.wait_state(*jobs["running"], "running")
        jobs["queued"] = self.start("gate", gate=new_gate(self))
        self.assertEqual(self.state_of(*jobs["queued"]), "queued")
        url = f"{self.used_url}/gate"
        status, process_id = Visitor(self.app, self.used_url, "192.0.2.7").try_start(url, gate=new_gate(self))
        self.assertEqual(status, 303)
        jobs["queued anonymous"] = url, process_id
        for state, (url, process_id) in jobs.items():
            self.assertEqual(self.state_of(url, process_id), state.split()[0], state)
        record = self.fresh_record(jobs["done"][1])
        self.assertIsNotNone(record.result.blob)
        self.blob_oid = record.result.blob._p_oid
        return jobs


class TestUninstall(SitesTestCase):
    def test_an_uninstalled_site_is_one_that_never_had_it(self):
        never = self.state(self.never)
        self.assertNotEqual(self.state(self.used), never)
        jobs = self.jobs_in_every_state()
        self.owner.open(f"{self.used_url}/@@my-processes")
        self.assertEqual(self.owner.status, 200)
        for state, (_url, process_id) in jobs.items():
            if "anonymous" not in state:  # My processes: the owner's own
                self.assertIn(process_id, self.owner.text)
        self.assertIn(registry.ROOT_KEY, root_keys(self.app))
        self.assertLessEqual(set(root_keys(self.app)), set(registry.ROOT_KEYS))

        self.uninstall(self.used)

        self.assertEqual(self.state(self.used), never)
        self.assertEqual(root_keys(self.app), [])  # no site has processes: the registry went
        GATES[self.running_gate].set()
        join_workers()  # the running job ends: nothing of it is written back
        self.assertEqual(root_keys(self.app), [])
        self.assertNotIn(jobs["queued"][1], Gate.ran)  # the queued job never ran
        # The site serves none of it: no list, no status, no result.
        self.owner.open(f"{self.used_url}/@@my-processes")
        self.assertEqual(self.owner.status, 404)
        for state, (url, process_id) in jobs.items():
            self.owner.open(f"{url}/completed?output_json=1&process_id={process_id}")
            self.assertEqual(self.owner.status, 404, state)
        self.owner.open(f"{jobs['done'][0]}/result?process_id={jobs['done'][1]}")
        self.assertEqual(self.owner.status, 404)
        self.owner.open(self.used_url)
        self.assertNotIn("@@my-processes", self.owner.text)  # no "My processes" in the personal menu

        # Uninstalling again changes nothing, and fails on nothing.
        with on_site(self.used):
            self.used.portal_setup.runAllImportStepsFromProfile(f"profile-{ADDON}:uninstall")
        transaction.commit()
        self.assertEqual(self.state(self.used), never)

    def test_another_sites_processes_keep_the_registry(self):
        url, process_id, answer = self.run_job("hello")  # in the fixture's site, which keeps the add-on
        self.assertEqual(answer["state"], "done")
        used_url, used_id = self.start("hello")
        self.owner.wait_for(used_url, used_id)

        self.uninstall(self.used)

        self.assertIn(registry.ROOT_KEY, root_keys(self.app))  # the registry stays
        self.assertIsNone(self.fresh_record(used_id))
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")  # the other site's result
        self.assertEqual(self.state(self.used), self.state(self.never))

        self.uninstall(self.portal)  # the last site with processes: the registry goes
        self.assertEqual(root_keys(self.app), [])

    def test_install_again_after_uninstall(self):
        self.uninstall(self.used)
        with on_site(self.used):
            get_installer(self.used, self.layer["request"]).install_product(ADDON)
        transaction.commit()
        self.assertEqual(root_keys(self.app), [])  # an install writes nothing to the root: a job does
        url, process_id = self.start("hello")
        self.assertEqual(self.owner.wait_for(url, process_id)["state"], "done")
        self.assertEqual(self.owner.result(url, process_id), "Hello world!")
        self.owner.open(f"{self.used_url}/@@my-processes")
        self.assertEqual(self.owner.status, 200)


class TestUninstallPeriodicJobs(SitesTestCase):
    """A periodic job of an uninstalled site: its record goes, and no pass brings the registry back."""

    def setUp(self):
        super().setUp()
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        MAINTENANCE.claimer = None  # the maintenance thread starts no schedule of the test's (test_periodic does so)
        self.addCleanup(periodic.clear)
        self.schedule = periodic.Schedule(view="hello", context="/used", user="admin", every=3600.0)
        periodic.register(self.schedule)

    def schedule_keys(self):
        transaction.begin()
        return list(periodic.records(self.app._p_jar.root()).keys())

    def test_its_schedules_record_goes_with_the_sites_processes(self):
        self.run_job("hello")  # the fixture's site keeps the add-on, and the registry with it
        sibling = periodic.Schedule(view="hello", context="/used2", user="admin", every=3600.0)  # "/used" begins it
        periodic.register(sibling)
        with self.assertLogs("netsight.async", "ERROR"):  # its context does not exist: its record says so
            (process_id,) = periodic.start_due(self.app._p_jar.db())  # queued for any instance
        self.assertEqual(sorted(self.schedule_keys()), sorted([self.schedule.key, sibling.key]))

        self.uninstall(self.used)

        self.assertEqual(self.schedule_keys(), [sibling.key])  # it stayed, with the removed process's id
        self.assertIsNone(self.fresh_record(process_id))

    def test_another_sites_schedule_keeps_the_registry(self):
        theirs = periodic.Schedule(view="hello", context="/plone", user="admin", every=3600.0)
        periodic.register(theirs)
        started = periodic.start_due(self.app._p_jar.db())
        self.assertEqual(len(started), 2)
        for process_id in started:  # no process is left (say, they expired): the last periods are
            registry.in_own_transaction(self.app._p_jar.db(), lambda root, pid=process_id: registry.remove(root, pid))

        self.uninstall(self.used)

        self.assertEqual(self.schedule_keys(), [theirs.key])  # kept: the store went, and /plone's job ran again
        self.assertEqual(periodic.start_due(self.app._p_jar.db()), [])  # this period's: started already

    def test_no_pass_brings_the_registry_back(self):
        self.assertEqual(len(periodic.start_due(self.app._p_jar.db())), 1)
        self.uninstall(self.used)
        self.assertEqual(root_keys(self.app), [])
        for hours in (2, 3):  # its next periods: said at each
            with self.assertLogs("netsight.async", "WARNING") as logs:
                now = time.time() + hours * 3600
                self.assertEqual(periodic.start_due(self.app._p_jar.db(), now=now), [])
                self.assertEqual(periodic.start_due(self.app._p_jar.db(), now=now + 1), [])  # a pass later
            self.assertEqual(len(logs.output), 1, logs.output)
            self.assertIn("its site does not have the add-on installed", logs.output[0])
        self.assertEqual(root_keys(self.app), [])  # the job was queued, and the store made again

    def test_a_schedule_of_no_context_writes_nothing_where_no_site_uses_the_add_on(self):
        periodic.clear()
        periodic.register(periodic.Schedule(view="hello", context="/deleted", user="admin", every=3600.0))
        self.assertEqual(root_keys(self.app), [])
        with self.assertLogs("netsight.async", "WARNING") as logs:
            self.assertEqual(periodic.start_due(self.app._p_jar.db()), [])
        self.assertIn("its context does not exist, and no site of the database uses the add-on", logs.output[0])
        self.assertEqual(root_keys(self.app), [])  # its record, saying so, made the store


class TestUninstallLeavesNothing(SitesTestCase):
    def test_a_failure_of_the_maintenance_thread_writes_no_heartbeat_after_the_last_uninstall(self):
        url, process_id = self.start("hello")
        self.owner.wait_for(url, process_id)
        self.uninstall(self.used)
        self.assertEqual(root_keys(self.app), [])
        self.addCleanup(setattr, MAINTENANCE, "faults", MAINTENANCE.faults)
        MAINTENANCE.faults = Faults()  # this test's failure, forgotten after it
        try:
            raise ConnectionError("the ZEO server is out of reach")
        except ConnectionError as exc:
            MAINTENANCE._failed("maintenance", exc)  # as a failed pass of its thread
        MAINTENANCE.beat(self.app._p_jar.db())
        self.assertEqual(root_keys(self.app), [])  # the heartbeat made the store to write the failure in

    def test_uninstalling_a_1x_site_removes_the_1x_registry(self):
        with on_site(self.never):
            self.never.portal_setup.setLastVersionForProfile("netsight.async:default", "1.0.0")  # as 1.x left it
        transaction.commit()
        store_1x_registry(self.layer["zodbDB"])
        self.uninstall(self.never)  # listed as installed, uninstalled without an upgrade
        transaction.begin()
        self.assertNotIn(REGISTRY_ID, self.app.objectIds())  # its processes loaded as broken objects without the package


class TestUninstallRestAPI(JobTestCase):
    """With plone.restapi: an uninstalled site answers no ``@async-processes``."""

    layer = NETSIGHT_ASYNC_RESTAPI_TESTING

    def test_async_processes_is_gone(self):
        url, process_id, _answer = self.run_job("hello")
        api = f"{self.site_url}/@async-processes"
        self.browser.addHeader("Accept", "application/json")
        self.browser.open(api)
        self.assertEqual(self.browser.status, 200)
        self.assertIn(process_id, self.browser.text)
        with on_site(self.portal):
            get_installer(self.portal, self.layer["request"]).uninstall_product(ADDON)
        transaction.commit()
        for address in (api, f"{api}/{process_id}"):
            self.browser.open(address)
            self.assertEqual(self.browser.status, 404, address)
        self.assertEqual(root_keys(self.app), [])

