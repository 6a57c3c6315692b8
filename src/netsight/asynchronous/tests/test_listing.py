"""The lists of processes: time-ordered ids, the state index, newest first, filtered, lazily."""

from Acquisition import aq_inner
from Acquisition import aq_parent
from Acquisition import Implicit
from BTrees.OOBTree import OOBTree
from netsight.asynchronous import listing
from netsight.asynchronous import owners
from plone.base.interfaces import IPloneSiteRoot
from zope.interface import alsoProvides
from netsight.asynchronous import registry
from ZODB import DB
from ZODB.FileStorage import FileStorage

import tempfile
import unittest
import uuid


class TestProcessIds(unittest.TestCase):
    def test_ids_are_uuid7_hex_digits_with_their_time(self):
        process_id = registry.new_process_id(now=1_700_000_000.123)
        parsed = uuid.UUID(process_id)
        self.assertEqual(parsed.hex, process_id)
        self.assertEqual((parsed.version, parsed.variant), (7, uuid.RFC_4122))
        self.assertEqual(int(process_id[:12], 16), 1_700_000_000_123)

    def test_ids_sort_by_time_and_differ_within_a_millisecond(self):
        ids = [registry.new_process_id(now=1_700_000_000 + i / 10) for i in range(20)]
        self.assertEqual(sorted(ids), ids)
        same_time = {registry.new_process_id(now=1_700_000_000) for _ in range(1000)}
        self.assertEqual(len(same_time), 1000)


SITE = "/plone"


class Item(Implicit):
    def __init__(self, name):
        self.name = name

    def getPhysicalPath(self):
        parent = aq_parent(aq_inner(self))
        return (*(parent.getPhysicalPath() if parent is not None else ("",)), self.name)


class TestSitePath(unittest.TestCase):
    """A process's site is the Plone site that contains its context, whatever URL acquired it."""

    def setUp(self):
        self.root = Item("")
        self.root.getPhysicalPath = lambda: ("",)
        self.a, self.b = Item("a"), Item("b")
        for site in (self.a, self.b):
            alsoProvides(site, IPloneSiteRoot)

    def test_the_site_that_contains_it(self):
        doc = Item("doc").__of__(self.b.__of__(self.root))
        self.assertEqual(owners.site_path(doc), "/b")

    def test_not_the_site_a_url_acquired_it_through(self):
        b_through_a = self.b.__of__(self.root).__of__(self.a.__of__(self.root))  # /a/b: b acquired in a
        doc = Item("doc").__of__(b_through_a)
        self.assertEqual(owners.site_path(doc), "/b")

    def test_outside_any_site(self):
        self.assertEqual(owners.site_path(Item("folder").__of__(self.root)), "")


class RegistryTestCase(unittest.TestCase):
    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.db = DB(FileStorage(f"{directory.name}/Data.fs"))
        self.addCleanup(self.db.close)
        self.clock = 1_700_000_000.0

    def add(self, owner="jane", state=registry.QUEUED, site=SITE):
        """A committed record of ``owner`` (None: an anonymous browser) in ``site``, brought to ``state``."""
        self.clock += 1
        process_id = registry.new_process_id(now=self.clock)
        anonymous = "a" * 64 if owner is None else None
        record = registry.ProcessRecord(process_id, "export", f"{site}/folder", owner, anonymous, site)
        record.created = self.clock
        self.in_transaction(lambda root: registry.add(root._p_jar, record, "instance-a", 1))
        steps = {
            registry.RUNNING: [lambda r: r.start("instance-a")],
            registry.DONE: [lambda r: r.start("instance-a"), lambda r: r.finish(None)],
            registry.FAILED: [lambda r: r.fail("broken")],
            registry.CANCELLED: [registry.ProcessRecord.request_cancel],
            registry.INTERRUPTED: [lambda r: r.interrupt(registry.DEAD_REASON)],
        }
        for step in steps.get(state, []):
            registry.change(self.db, process_id, step)
        return process_id

    def in_transaction(self, func):
        return registry.in_own_transaction(self.db, func)

    def listed(self, site=SITE, **filters):
        connection = self.db.open()
        try:
            found = listing.Listing(connection, site, **filters)
            return len(found), [record.process_id for record in found]
        finally:
            connection.close()

    def states_index(self):
        connection = self.db.open()
        try:
            states = registry.index(connection.root(), registry.STATES_KEY) or {}
            return sorted(key[1:] for key in states.keys() if key[0] == SITE and key[2])
        finally:
            connection.close()


class TestStateIndex(RegistryTestCase):
    def test_an_ended_process_enters_the_index_and_leaves_it_with_its_record(self):
        process_id = self.add()
        self.assertEqual(self.states_index(), [])  # active ones are listed from the active index
        self.assertEqual(self.listed(state=registry.QUEUED), (1, [process_id]))
        registry.change(self.db, process_id, lambda r: r.start("instance-a"))
        self.assertEqual(self.states_index(), [])
        self.assertEqual(self.listed(state=registry.RUNNING), (1, [process_id]))
        self.assertEqual(self.listed(state=registry.QUEUED), (0, []))
        registry.change(self.db, process_id, lambda r: r.finish(None))
        self.assertEqual(self.states_index(), [(registry.DONE, process_id)])
        self.assertEqual(self.listed(state=registry.RUNNING), (0, []))
        self.in_transaction(lambda root: registry.remove(root, process_id))
        self.assertEqual(self.states_index(), [])
        self.assertEqual(self.listed(), (0, []))

    def test_a_rerun_is_listed_queued_again(self):
        process_id = self.add(state=registry.RUNNING)

        def rerunnable(record):
            record.request, record.max_reruns = object(), 1  # any stored request
            return record.interrupt(registry.DEAD_REASON)

        registry.change(self.db, process_id, rerunnable)
        self.assertEqual(self.listed(state=registry.QUEUED), (1, [process_id]))
        self.assertEqual(self.states_index(), [])

    def test_the_counts_follow(self):
        first, second = self.add(), self.add()
        registry.change(self.db, first, lambda r: r.fail("broken"))
        self.in_transaction(lambda root: registry.remove(root, second))
        counts = self.in_transaction(lambda root: {s: registry.count(root, SITE, s) for s in registry.ENDED})
        self.assertEqual({s: n for s, n in counts.items() if n}, {registry.FAILED: 1})

    def test_a_registry_of_an_older_version_is_indexed_anew_once(self):
        ids = [self.add(), self.add(state=registry.DONE), self.add(state=registry.FAILED)]

        def as_before(root):  # a registry of 2.0's first versions: other indexes, no counts, no version
            store = root[registry.ROOT_KEY]
            store.states, store.counts, store.lists_version = OOBTree(), OOBTree(), 0
            del store[ids[2]].site  # a record of before sites

        self.in_transaction(as_before)
        self.assertEqual(self.in_transaction(registry.reindex_lists), 3)
        self.assertEqual(self.in_transaction(registry.reindex_lists), 0)
        self.assertEqual(self.states_index(), [(registry.DONE, ids[1])])
        self.assertEqual(self.listed(), (2, [ids[1], ids[0]]))
        self.assertEqual(self.listed(state=registry.DONE), (1, [ids[1]]))
        self.assertEqual(self.listed(site=""), (1, [ids[2]]))  # outside any site

    def test_a_new_database_gets_the_lists_version(self):
        self.assertEqual(self.in_transaction(registry.reindex_lists), 0)
        self.assertEqual(self.in_transaction(registry.reindex_lists), 0)
        self.add()
        self.assertEqual(self.in_transaction(registry.reindex_lists), 0)


class TestListing(RegistryTestCase):
    def test_all_newest_first(self):
        ids = [self.add(owner) for owner in ("jane", "joe", None, "jane")]
        self.assertEqual(self.listed(), (4, ids[::-1]))

    def test_by_state(self):
        queued, done, failed, done_too = (
            self.add(),
            self.add(state=registry.DONE),
            self.add(state=registry.FAILED),
            self.add(owner="joe", state=registry.DONE),
        )
        self.assertEqual(self.listed(state=registry.DONE), (2, [done_too, done]))
        self.assertEqual(self.listed(state=registry.QUEUED), (1, [queued]))
        self.assertEqual(self.listed(state=registry.FAILED), (1, [failed]))
        self.assertEqual(self.listed(state=registry.CANCELLED), (0, []))

    def test_by_owner_and_by_both(self):
        janes = [self.add("jane"), self.add("jane", registry.DONE), self.add("jane", registry.DONE)]
        self.add("joe", registry.DONE)
        anonymous = self.add(None)
        self.assertEqual(self.listed(owner="jane"), (3, janes[::-1]))
        self.assertEqual(self.listed(owner="jane", state=registry.DONE), (2, janes[:0:-1]))
        self.assertEqual(self.listed(owner="nobody"), (0, []))
        self.assertEqual(self.listed(owner=f"anonymous:{'a' * 64}"), (1, [anonymous]))

    def test_batches_are_slices_and_indexes(self):
        ids = [self.add() for _ in range(7)][::-1]
        connection = self.db.open()
        self.addCleanup(connection.close)
        found = listing.Listing(connection, SITE)
        self.assertEqual([r.process_id for r in found[2:5]], ids[2:5])
        self.assertEqual(found[-1].process_id, ids[-1])
        with self.assertRaises(IndexError):
            found[7]

    def test_any_index_from_either_end_in_any_order(self):
        ids = [self.add(owner, state) for owner in ("jane", "joe") for state in (registry.DONE, registry.QUEUED)
               for _ in range(40)]
        connection = self.db.open()
        self.addCleanup(connection.close)
        for filters, expected in (
            ({}, ids[::-1]),
            ({"state": registry.DONE}, (ids[:40] + ids[80:120])[::-1]),
            ({"owner": "joe"}, ids[80:][::-1]),
            ({"owner": "joe", "state": registry.QUEUED}, ids[120:][::-1]),
        ):
            found = listing.Listing(connection, SITE, **filters)
            self.assertEqual(len(found), len(expected), filters)
            for index in (0, 1, 2, len(expected) - 1, len(expected) // 2, 5, 4, len(expected) // 2 + 1, 3):
                self.assertEqual(found[index].process_id, expected[index], (filters, index))
            self.assertEqual([r.process_id for r in found], expected, filters)

    def test_each_site_lists_its_own(self):
        ours = [self.add(), self.add(state=registry.DONE)]
        theirs = [self.add(site="/other"), self.add(site="/other", state=registry.DONE)]
        self.assertEqual(self.listed(), (2, ours[::-1]))
        self.assertEqual(self.listed(site="/other"), (2, theirs[::-1]))
        self.assertEqual(self.listed(state=registry.DONE), (1, [ours[1]]))
        self.assertEqual(self.listed(owner="jane"), (2, ours[::-1]))
        self.assertEqual(self.listed(site="/other", owner="jane", state=registry.DONE), (1, [theirs[1]]))

    def test_a_record_its_index_still_names_is_gone_not_an_error(self):
        first, second = self.add("jane"), self.add("jane")
        self.in_transaction(lambda root: root[registry.ROOT_KEY].pop(first))  # the owners index keeps it
        connection = self.db.open()
        self.addCleanup(connection.close)
        found = list(listing.Listing(connection, SITE, owner="jane"))
        self.assertEqual([listing.is_gone(record) for record in found], [False, True])
        self.assertEqual(found[0].process_id, second)

    def test_an_unknown_state_is_refused(self):
        connection = self.db.open()
        self.addCleanup(connection.close)
        with self.assertRaises(ValueError):
            listing.Listing(connection, SITE, state="exploded")

    def test_nothing_to_list_in_a_new_database(self):
        self.assertEqual(self.listed(), (0, []))
        self.assertEqual(self.listed(state=registry.DONE), (0, []))
        self.assertEqual(self.listed(owner="jane"), (0, []))
