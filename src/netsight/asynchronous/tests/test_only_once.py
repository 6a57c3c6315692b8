"""Only once (issue 27, point 6): a view's ``dedupe_key``; while its process waits or runs, a second start starts nothing.

In-process: a second start of the same key is sent to the first's page
(303; JSON 200 with its id and status); another owner's start of a key of
scope "owner" starts its own; site-wide, another Member is told "already
running, started by someone else" (409, no id, no link) while the site's
Manager is sent to it; once it ended, the key starts again. The registry:
every end path frees the key; two starts in two transactions that both
found it free conflict (the same key inserted twice) and the retry finds
the first; a store of before the index gets it from ``prepare``. The
cluster test (two instances at the same moment) is
``tests/system/tests/test_only_once_cluster.py``.
"""

from urllib.parse import urlencode
from ZODB import DB
from ZODB.MappingStorage import MappingStorage
from ZODB.POSException import ConflictError

from netsight.asynchronous import registry
from netsight.asynchronous import storage
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import OTHER_MEMBER_NAME
from netsight.asynchronous.testing import OTHER_MEMBER_PASSWORD
from netsight.asynchronous.tests.helpers.base import at_view
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.limited_views import GATES
from netsight.asynchronous.tests.helpers.limited_views import new_gate
from netsight.asynchronous.tests.helpers.limited_views import STARTED

import json
import time
import transaction
import unittest
import uuid


ALREADY = "This is already running, started by someone else: try again once it ended."


class TestOnlyOnce(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.key = uuid.uuid4().hex  # each test's own: the processes of the tests before may hold theirs
        self.gate = new_gate(self)

    def first(self, view="once", browser=None):
        """A running process of ``view`` with this test's key; its id."""
        process_id = (browser or self.browser).start(self.url(view), gate=self.gate, key=self.key)
        self.assertTrue(STARTED[self.gate].wait(60), "the job did not start")
        return process_id

    def post(self, browser, view, accept=None, **form):
        form.setdefault("gate", new_gate(self))
        form.setdefault("key", self.key)
        form["_authenticator"] = browser.token
        if accept:
            browser.addHeader("Accept", accept)
        browser.post(self.url(view), urlencode(form))
        return browser.status

    def processes_of(self, view):
        transaction.begin()
        store = registry.stored(self.app._p_jar.root())
        return sorted(pid for pid, record in store.records.items() if record.view_name == view)

    def test_a_second_start_is_sent_to_the_first(self):
        process_id = self.first()
        self.assertEqual(self.post(self.browser, "once"), 303)
        self.assertEqual(
            self.browser.headers["Location"], f"{at_view(self.url('once'))}/processing?process_id={process_id}"
        )
        self.assertEqual(self.processes_of("once"), [process_id])
        GATES[self.gate].set()
        self.assertEqual(self.browser.wait_for(self.url("once"), process_id)["state"], "done")
        # It ended: the key starts a process again.
        again = self.browser.start(self.url("once"), gate=self.gate, key=self.key)
        self.assertNotEqual(again, process_id)
        self.assertEqual(self.browser.wait_for(self.url("once"), again)["state"], "done")

    def test_a_script_gets_200_with_its_id_and_status(self):
        process_id = self.first()
        self.assertEqual(self.post(self.browser, "once", accept="application/json"), 200)
        answer = json.loads(self.browser.contents)
        self.assertEqual(answer["process_id"], process_id)
        self.assertIs(answer["already_running"], True)
        self.assertEqual(answer["status"]["state"], "running")
        self.assertEqual(answer["status_url"], f"{at_view(self.url('once'))}/completed?process_id={process_id}&output_json=1")
        self.assertEqual(self.processes_of("once"), [process_id])

    def test_without_a_key_every_start_starts(self):
        one = self.browser.start(self.url("once"), gate=self.gate, key="")
        other = self.browser.start(self.url("once"), gate=self.gate, key="")
        self.assertNotEqual(one, other)

    def test_another_owners_start_starts_its_own(self):
        process_id = self.first()
        other = JobBrowser(self.app, self.site_url, OTHER_MEMBER_NAME, OTHER_MEMBER_PASSWORD)
        self.assertEqual(self.post(other, "once", gate=self.gate), 303)
        location = other.headers["Location"]
        self.assertNotIn(process_id, location)
        self.assertEqual(len(self.processes_of("once")), 2)

    def test_site_wide_another_member_learns_nothing_of_it(self):
        process_id = self.first("once-in-site")
        other = JobBrowser(self.app, self.site_url, OTHER_MEMBER_NAME, OTHER_MEMBER_PASSWORD)
        self.assertEqual(self.post(other, "once-in-site"), 409)
        page = other.text
        self.assertIn(ALREADY, page)
        self.assertNotIn(process_id, page)
        self.assertNotIn("processing?", page)
        self.assertEqual(self.post(other, "once-in-site", accept="application/json"), 409)
        answer = json.loads(other.contents)
        self.assertEqual(answer, {"error": ALREADY, "already_running": True})
        self.assertEqual(self.processes_of("once-in-site"), [process_id])
        # Its owner, and the site's Manager, are sent to it.
        self.assertEqual(self.post(self.browser, "once-in-site"), 303)
        self.assertIn(process_id, self.browser.headers["Location"])
        manager = owner_browser(self.app, self.site_url)
        self.assertEqual(self.post(manager, "once-in-site"), 303)
        self.assertIn(process_id, manager.headers["Location"])
        self.assertEqual(self.processes_of("once-in-site"), [process_id])

    def test_site_wide_in_german(self):
        self.first("once-in-site")
        other = JobBrowser(self.app, self.site_url, OTHER_MEMBER_NAME, OTHER_MEMBER_PASSWORD)
        other.addHeader("Accept-Language", "de")
        self.browse_in("de")
        self.assertEqual(self.post(other, "once-in-site"), 409)
        self.assertIn("Dies läuft bereits, von jemand anderem gestartet", other.text)


class TestTheIndex(unittest.TestCase):
    """The only-once index in the registry: written with a start, freed by every end, conflict-safe."""

    def setUp(self):
        self.db = DB(MappingStorage())
        self.addCleanup(self.db.close)
        self.entry = registry.dedupe_entry("export", "site", "/plone", "jane")

    def add(self, connection, owner="jane", instance="a"):
        record = registry.ProcessRecord(registry.new_process_id(), "v", "/plone", owner, site="/plone")
        record.dedupe = self.entry
        registry.add(connection, record, instance=instance, ticket=1)
        return record.process_id

    def holder(self, connection=None):
        if connection is not None:
            return registry.holder(connection, self.entry, 60)
        connection = self.db.open()
        try:
            found = registry.holder(connection, self.entry, 60)
            return None if found is None else found.process_id
        finally:
            connection.close()

    def started(self):
        connection = self.db.open()
        try:
            process_id = self.add(connection)
            transaction.commit()
        finally:
            connection.close()
        registry.change(self.db, process_id, lambda record: record.start("a"))
        registry.in_own_transaction(self.db, lambda root: registry.beat_in(root, "a"))
        return process_id

    def test_every_end_frees_the_key(self):
        ends = {
            "done": lambda r: r.finish(None),
            "failed": lambda r: r.fail("broken"),
            "cancelled": lambda r: r.request_cancel() and r.cancelled(),
            "interrupted": lambda r: r.interrupt(registry.DEAD_REASON),
            "timed out": lambda r: setattr(r, "time_limit", 1.0) or r.time_out(now=time.time() + 100),
        }
        for name, end in ends.items():
            with self.subTest(name):
                process_id = self.started()
                self.assertEqual(self.holder(), process_id)
                self.assertTrue(registry.change(self.db, process_id, end))
                self.assertIsNone(self.holder())
        with self.subTest("removed"):
            process_id = self.started()
            registry.in_own_transaction(self.db, lambda root: registry.remove(root, process_id))
            self.assertIsNone(self.holder())
        with self.subTest("queued and cancelled"):
            connection = self.db.open()
            process_id = self.add(connection)
            transaction.commit()
            connection.close()
            self.assertEqual(self.holder(), process_id)
            registry.change(self.db, process_id, lambda r: r.request_cancel())
            self.assertIsNone(self.holder())

    def test_queued_again_it_keeps_its_key(self):
        process_id = self.started()

        def rerun(record):
            record.request, record.max_reruns = object(), 1
            result = record.interrupt(registry.DEAD_REASON)
            record.request = None
            return result

        registry.change(self.db, process_id, rerun)
        self.assertEqual(self.holder(), process_id)

    def test_a_dead_instances_job_holds_nothing(self):
        process_id = self.started()
        registry.in_own_transaction(self.db, lambda root: registry.beat_in(root, "a", stopped=True))
        self.assertIsNone(self.holder())
        # A new start takes the key over; the old one's end leaves it to the new.
        connection = self.db.open()
        new = self.add(connection, instance="b")
        transaction.commit()
        connection.close()
        registry.in_own_transaction(self.db, lambda root: registry.beat_in(root, "b"))
        registry.change(self.db, process_id, lambda r: r.interrupt(registry.STOPPED_REASON))
        self.assertEqual(self.holder(), new)

    def test_two_starts_that_found_it_free_conflict(self):
        self.started()  # the store and its trees exist, as after any first start
        registry.change(self.db, self.holder(), lambda r: r.fail("gone"))
        one_tm, two_tm = transaction.TransactionManager(), transaction.TransactionManager()
        one, two = self.db.open(transaction_manager=one_tm), self.db.open(transaction_manager=two_tm)
        self.addCleanup(one.close)
        self.addCleanup(two.close)
        one_tm.begin()
        two_tm.begin()
        self.assertIsNone(self.holder(one))
        self.assertIsNone(self.holder(two))
        first = self.add(one)
        self.add(two, owner="joe")
        one_tm.commit()
        with self.assertRaises(ConflictError):
            two_tm.commit()
        two_tm.abort()
        two_tm.begin()  # Zope's retry: the start finds the first
        self.assertEqual(self.holder(two).process_id, first)

    def test_a_store_of_before_gets_the_index(self):
        self.started()

        def as_before(root):
            del root[storage.ROOT_KEY].dedupe

        registry.in_own_transaction(self.db, as_before)
        self.assertIsNone(self.holder())  # read without it: nothing holds a key
        registry.in_own_transaction(self.db, registry.prepare)
        last = self.db.storage.lastTransaction()
        registry.in_own_transaction(self.db, registry.prepare)  # once
        self.assertEqual(self.db.storage.lastTransaction(), last)
        process_id = self.started()
        self.assertEqual(self.holder(), process_id)

    def test_a_scope_is_owner_or_site(self):
        self.assertNotEqual(
            registry.dedupe_entry("k", "owner", "/plone", "jane"), registry.dedupe_entry("k", "owner", "/plone", "joe")
        )
        self.assertEqual(registry.dedupe_entry("k", "site", "/plone", "jane"), registry.dedupe_entry("k", "site", "/plone", "joe"))
        with self.assertRaises(ValueError):
            registry.dedupe_entry("k", "everywhere", "/plone", "jane")
