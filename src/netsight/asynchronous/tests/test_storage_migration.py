"""A registry written by 2.0's development versions (fourteen root keys) is moved into one store, and answers the same.

The database is written by the registry's code of before, frozen
(``helpers/registry_before_store.py``), with a record in every state:
queued (two, with their queue), running with progress, done with its
result waiting, failed, cancelled, interrupted, running on a stopped
instance (reads interrupted), on a dead one that may run again (reads
queued), a result shown (one-shot), a result kept, unclaimed jobs (and
one claimed), an anonymous visitor's, in two sites and outside any. Then
``registry.prepare`` moves it (as each instance does as it starts, and the
upgrade step to 1009); what every record reads as, the queues, the lists,
the counts, the owners' lists and the heartbeats are the same, the old
keys are gone, and the registry goes on: results are taken, jobs end,
claims and expiry work on the moved trees.
"""

from netsight.asynchronous import addresses
from netsight.asynchronous import listing
from netsight.asynchronous import notify
from netsight.asynchronous import registry
from netsight.asynchronous import storage
from netsight.asynchronous.replay import CapturedResponse
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers import registry_before_store as before
from netsight.asynchronous.tests.helpers.base import JobTestCase
from ZODB import DB
from ZODB.FileStorage import FileStorage

import tempfile
import time
import transaction
import unittest


ADDRESS = "0f" * 32  # an anonymous visitor's address key (its keyed hash)
HMAC_KEY = b"k" * 32  # the database's HMAC key of addresses, as anonymous.py made it then
PROFILE = "netsight.async:default"
TIMEOUT = 60  # seconds: the heartbeat timeout the states are read with
SITES = ("/plone", "/other", "")
OWNERS = ("jane", "joe", None)  # None: an anonymous visitor


def captured(body):
    return CapturedResponse(200, "OK", {"content-type": "text/plain"}, [], {}, body)


def add(db, module, name, instance, ticket, site="/plone", owner="jane", address=None, **attributes):
    """A queued record added by ``module`` (the registry of before, or today's); its id.
    With ``address`` (an address key), an anonymous visitor's, held for that address."""
    now = time.time()
    add.count += 1
    process_id = module.new_process_id(now + add.count * 0.001)
    record = registry.ProcessRecord(process_id, name, site + "/folder", owner, "secret" if owner is None else None, site)
    record.created = now + add.count * 0.001
    for key, value in attributes.items():
        setattr(record, key, value)

    if address is not None:
        record.address_key = address

    def write(root):
        if address is not None:
            module.addresses.hold(root, address, process_id, lambda pid: True)
        module.add(root._p_jar, record, instance, ticket, title=f"Job {name}")

    module.in_own_transaction(db, write)
    return process_id


add.count = 0


def start(record):
    return record.start(record.instance)


def write_every_state(db, module=before):
    """A record in every state, written by ``module``; ``{name: process id}``."""
    ids = {}
    change = module.change
    module.in_own_transaction(db, lambda root: module.beat_in(root, "a"))
    module.in_own_transaction(db, lambda root: module.beat_in(root, "stopped", stopped=True))
    module.in_own_transaction(db, lambda root: module.beat_in(root, "dead"))

    ids["queued first"] = add(db, module, "queued first", "a", 1)
    ids["queued second"] = add(db, module, "queued second", "a", 2, owner="joe")
    ids["running"] = add(db, module, "running", "a", 3)
    change(db, ids["running"], start)
    change(db, ids["running"], lambda r: r.report(42, "Half way"))
    ids["done"] = add(db, module, "done", "a", 4, expiry=3600)  # kept for its site's expiry
    change(db, ids["done"], start)
    change(db, ids["done"], lambda r: r.finish(captured(b"the result")))
    ids["failed"] = add(db, module, "failed", "a", 5, site="/other", owner="joe")
    change(db, ids["failed"], start)
    change(db, ids["failed"], lambda r: r.fail("ValueError: no such row"))
    ids["cancelled"] = add(db, module, "cancelled", "a", 6)
    change(db, ids["cancelled"], lambda r: r.request_cancel())
    ids["interrupted"] = add(db, module, "interrupted", "a", 7, site="")
    change(db, ids["interrupted"], start)
    change(db, ids["interrupted"], lambda r: r.interrupt(registry.STOPPED_REASON))
    ids["on a stopped instance"] = add(db, module, "on a stopped instance", "stopped", 1)
    change(db, ids["on a stopped instance"], start)
    ids["rerun on a dead instance"] = add(
        db, module, "rerun on a dead instance", "dead", 1, request="a stored request", max_reruns=1
    )
    change(db, ids["rerun on a dead instance"], start)
    change(db, ids["rerun on a dead instance"], lambda r: setattr(r, "started", r.started - 10 * TIMEOUT))
    ids["shown"] = add(db, module, "shown", "a", 8)
    change(db, ids["shown"], start)
    change(db, ids["shown"], lambda r: r.finish(captured(b"shown once")))
    assert module.take(db, ids["shown"]).body == b"shown once"
    ids["kept"] = add(db, module, "kept", "a", 9, owner="joe")
    change(db, ids["kept"], start)
    change(db, ids["kept"], lambda r: r.finish(captured(b"kept a while")))
    assert module.take(db, ids["kept"], keep_until=time.time() + 600).body == b"kept a while"
    ids["unclaimed first"] = add(db, module, "unclaimed first", registry.UNCLAIMED, None)
    ids["unclaimed anonymous"] = add(db, module, "unclaimed anonymous", registry.UNCLAIMED, None, owner=None)
    ids["claimed"] = add(db, module, "claimed", registry.UNCLAIMED, None, site="/other")
    change(db, ids["claimed"], lambda r: r.assign_to("a", 10))
    ids["unclaimed last"] = add(db, module, "unclaimed last", registry.UNCLAIMED, None)
    # An anonymous visitor's address: one process active, one cancelled (released).
    module.in_own_transaction(db, lambda root: root.__setitem__(before.addresses.HMAC_KEY_KEY, HMAC_KEY))
    ids["anonymous queued"] = add(db, module, "anonymous queued", "a", 13, owner=None, address=ADDRESS)
    ids["anonymous cancelled"] = add(db, module, "anonymous cancelled", "a", 14, owner=None, address=ADDRESS)
    change(db, ids["anonymous cancelled"], lambda r: r.request_cancel())
    # A mail owed for the done one (notify.expect of then, at the job's end).
    module.in_own_transaction(
        db, lambda root: root.__setitem__(before.MAIL_PENDING_KEY, before.OOBTree({ids["done"]: time.time()}))
    )
    # The heartbeats: "a" alive, "stopped" said it stopped, "dead" stopped beating long ago.
    module.in_own_transaction(db, lambda root: module.beat_in(root, "a"))

    def dead_long_ago(root):
        root_instances = module.index(root, "instances") if hasattr(module, "index") else root[module.INSTANCES_KEY]
        root_instances["dead"].beat = time.time() - 10 * TIMEOUT

    module.in_own_transaction(db, dead_long_ago)
    return ids


def read(db, module, ids):
    """What every record reads as, the queues, lists, counts and heartbeats, as ``module`` reads them."""
    connection = db.open()
    try:
        root, now = connection.root(), time.time()
        records = {}
        for name, process_id in ids.items():
            record = module.find(connection, process_id)
            records[name] = (
                record.state,
                module.effective_state(connection, record, TIMEOUT, now),
                module.orphaned(connection, record, TIMEOUT, now),
                module.queue_position(connection, record),
                module.owner_key(record),
                record.instance,
                record.progress,
                record.message,
                record.error,
                record.title,
                record.result_gone(now),
                record.result_waits(),
                record.keep_until,
            )
        instances = module.instances(root)
        return {
            "records": records,
            "counts": {
                (site, state): module.count(root, site, state) for site in SITES for state in registry.ENDED
            },
            "active": {iid: sorted(module.active_of(root, iid)) for iid in ("a", "stopped", "dead", registry.UNCLAIMED)},
            "active ids": sorted(module.active_ids(root)),
            "active instances": sorted(module.active_instances(root)),
            "unclaimed": [record.process_id for record in module.unclaimed(root)],
            "unclaimed count": module.unclaimed_count(root)[0],
            "heartbeats": {iid: (beat.beat, beat.stopped) for iid, beat in instances.items()},
            "stopped": {iid: getattr(module, "is_stopped", getattr(module, "stopped", None))(root, iid) for iid in instances},
            "exists": module.exists(root),
            "address's processes": module.addresses.process_ids(root, ADDRESS),
            "address key": (
                root.get(before.addresses.HMAC_KEY_KEY)
                if module is before
                else registry.stored(root).address_key
            ),
            "mails pending": list(
                (root[before.MAIL_PENDING_KEY] if module is before else registry.index(root, notify.PENDING_KEY)).keys()
            ),
        }
    finally:
        connection.close()


def index_keys(db, module):
    """The keys of every index (owners, states, ended, expires), as ``module`` stores them."""
    connection = db.open()
    try:
        root = connection.root()
        if module is before:
            tree = lambda key: root[getattr(before, key)]  # noqa: E731
        else:
            tree = lambda key: registry.index(root, getattr(registry, key.replace("ROOT", "RECORDS")))  # noqa: E731
        found = {key: list(tree(key).keys()) for key in ("OWNERS_KEY", "STATES_KEY", "ENDED_KEY", "EXPIRES_KEY")}
        found["records"] = list(tree("ROOT_KEY").keys())
        return found
    finally:
        connection.close()


def root_keys(db):
    connection = db.open()
    try:
        return sorted(key for key in connection.root() if key.startswith("netsight"))
    finally:
        connection.close()


class MigrationTestCase(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)
        self.path = f"{self.directory.name}/Data.fs"
        self.db = DB(FileStorage(self.path))
        self.addCleanup(lambda: self.db.close())

    def reopen(self):
        """The database closed and opened again: what was committed, loaded anew."""
        self.db.close()
        self.db = DB(FileStorage(self.path))

    def prepare(self):
        return registry.in_own_transaction(self.db, registry.prepare)


class TestMigration(MigrationTestCase):
    def test_every_record_reads_the_same_after_the_move(self):
        ids = write_every_state(self.db)
        self.assertEqual(root_keys(self.db), sorted(storage.KEYS_BEFORE.values()))
        was, indexes = read(self.db, before, ids), index_keys(self.db, before)
        # The states the fixture means: every one of them is there.
        states = {name: reading[:2] for name, reading in was["records"].items()}
        self.assertEqual(states["queued second"], (registry.QUEUED, registry.QUEUED))
        self.assertEqual(states["running"], (registry.RUNNING, registry.RUNNING))
        self.assertEqual(states["done"], (registry.DONE, registry.DONE))
        self.assertEqual(states["failed"], (registry.FAILED, registry.FAILED))
        self.assertEqual(states["cancelled"], (registry.CANCELLED, registry.CANCELLED))
        self.assertEqual(states["interrupted"], (registry.INTERRUPTED, registry.INTERRUPTED))
        self.assertEqual(states["on a stopped instance"], (registry.RUNNING, registry.INTERRUPTED))
        self.assertEqual(states["rerun on a dead instance"], (registry.RUNNING, registry.QUEUED))
        self.assertEqual(states["unclaimed last"], (registry.QUEUED, registry.QUEUED))
        self.assertTrue(was["records"]["shown"][10])  # its result gone
        self.assertEqual(was["records"]["queued second"][3], 1)  # one job ahead of it
        self.assertEqual(was["records"]["unclaimed last"][3], 2)
        self.assertEqual(was["unclaimed count"], 3)
        self.assertEqual(was["counts"][("/plone", registry.DONE)], 2)  # done and kept; shown in no count

        self.assertEqual(self.prepare(), (len(ids), 0))
        self.assertEqual(root_keys(self.db), [registry.ROOT_KEY])  # the eleven keys are gone
        self.reopen()
        self.assertEqual(read(self.db, registry, ids), was)
        self.assertEqual(index_keys(self.db, registry), indexes)
        self.assertEqual(self.prepare(), (None, 0))  # once: nothing more to do

    def test_the_lists_read_the_same_after_the_move(self):
        ids = write_every_state(self.db)
        self.prepare()
        connection = self.db.open()
        try:
            records = {pid: registry.find(connection, pid) for pid in ids.values()}
            listed = [r for r in records.values() if not r.result_gone()]
            for site in SITES:
                expected = sorted((r for r in listed if r.site == site), key=lambda r: r.process_id, reverse=True)
                self.assertEqual(
                    [r.process_id for r in listing.Listing(connection, site)], [r.process_id for r in expected], site
                )
                for state in registry.STATES:
                    self.assertEqual(
                        [r.process_id for r in listing.Listing(connection, site, state=state)],
                        [r.process_id for r in expected if r.state == state],
                        (site, state),
                    )
            jane = [r.process_id for r in listing.Listing(connection, "/plone", owner="jane")]
            self.assertIn(ids["done"], jane)
            self.assertNotIn(ids["shown"], jane)  # a result shown is in no owner's list
            self.assertNotIn(ids["kept"], jane)  # joe's
        finally:
            connection.close()

    def test_the_registry_goes_on_after_the_move(self):
        ids = write_every_state(self.db)
        self.prepare()
        db = self.db
        # Results: the waiting one once, the kept one again, the shown one never.
        self.assertEqual(registry.take(db, ids["done"]).body, b"the result")
        self.assertIsNone(registry.take(db, ids["done"]))
        self.assertEqual(registry.take(db, ids["kept"], keep_until=time.time() + 600).body, b"kept a while")
        self.assertIsNone(registry.take(db, ids["shown"]))
        # Jobs end and start; an unclaimed one is claimed.
        registry.change(db, ids["running"], lambda r: r.finish(captured(b"at last")))
        registry.change(db, ids["queued first"], start)
        self.assertTrue(registry.change(db, ids["unclaimed first"], lambda r: r.assign_to("a", 11)))
        connection = db.open()
        try:
            self.assertEqual(registry.find(connection, ids["running"]).state, registry.DONE)
            self.assertEqual(registry.queue_position(connection, registry.find(connection, ids["queued second"])), 0)
            self.assertEqual(
                [r.process_id for r in registry.unclaimed(connection.root())],
                [ids["unclaimed anonymous"], ids["unclaimed last"]],
            )
            self.assertEqual(registry.unclaimed_count(connection.root())[0], 2)
        finally:
            connection.close()
        # A new process; a Manager's removal; expiry forgets an ended one.
        new = add(db, registry, "new", "a", 12)
        registry.in_own_transaction(db, lambda root: registry.remove_ended(root, ids["failed"], TIMEOUT))
        later = time.time() + 10 * 3600
        forgotten = registry.in_own_transaction(
            db, lambda root: registry.forget_expired(root, registry.EXPIRES_KEY, later, 100)
        )
        self.assertEqual(forgotten, 2)  # done's expiry, kept's time
        connection = db.open()
        try:
            self.assertEqual(registry.find(connection, new).state, registry.QUEUED)
            self.assertIsNone(registry.find(connection, ids["failed"]))
            self.assertIsNone(registry.find(connection, ids["done"]))
            self.assertTrue(registry.find(connection, ids["kept"]).result_gone())
            self.assertEqual(registry.count(connection.root(), "/other", registry.FAILED), 0)
        finally:
            connection.close()
        self.assertEqual(root_keys(db), [registry.ROOT_KEY])

    def test_a_registry_before_the_unclaimed_index_and_the_lists(self):
        """2.0's first versions: the unclaimed jobs in the active index, no count, no lists' version."""
        ids = write_every_state(self.db)

        def as_before(root):
            active, unclaimed = root[before.ACTIVE_KEY], root.pop(before.UNCLAIMED_KEY)
            for pid in unclaimed.keys():
                active[(registry.UNCLAIMED, pid)] = True
            for key in (before.UNCLAIMED_COUNT_KEY, before.LISTS_VERSION_KEY, before.STATES_KEY, before.COUNTS_KEY):
                del root[key]
            root[storage.OLD_LISTS_KEYS[0]] = before.OOBTree()  # the sites' index of before

        was = read(self.db, before, ids)
        before.in_own_transaction(self.db, as_before)
        moved, indexed = self.prepare()
        self.assertEqual((moved, indexed), (len(ids), len(ids)))
        self.assertEqual(root_keys(self.db), [registry.ROOT_KEY])
        now = read(self.db, registry, ids)
        self.assertEqual(now, was)
        connection = self.db.open()
        try:
            active = registry.index(connection.root(), registry.ACTIVE_KEY)
            self.assertFalse([key for key in active.keys() if key[0] == registry.UNCLAIMED and key[1]])
        finally:
            connection.close()

    def test_nothing_is_written_where_there_is_nothing_to_move(self):
        last = self.db.storage.lastTransaction()
        self.assertEqual(self.prepare(), (None, 0))  # no registry at all
        self.assertEqual(root_keys(self.db), [])
        add(self.db, registry, "today's", "a", 1)
        last = self.db.storage.lastTransaction()
        self.assertEqual(self.prepare(), (None, 0))  # a registry of today
        self.assertEqual(self.db.storage.lastTransaction(), last)

    def test_removing_the_registry_removes_a_layout_of_before_too(self):
        write_every_state(self.db)

        def remove_everything(root):
            return registry.remove_all(root, only_if_empty=False)

        self.assertTrue(registry.in_own_transaction(self.db, remove_everything))
        self.assertEqual(root_keys(self.db), [])


class TestStartupMigrates(MigrationTestCase):
    def test_an_instance_moves_it_as_it_starts(self):
        """What ``startup.on_process_starting`` does for the main database: ``startup.prepare_registry``."""
        from netsight.asynchronous import startup

        ids = write_every_state(self.db)
        was = read(self.db, before, ids)
        with self.assertLogs("netsight.async", "INFO") as logs:
            startup.prepare_registry(self.db)
        self.assertIn(f"moved the registry's {len(ids)} processes", "\n".join(logs.output))
        self.assertEqual(root_keys(self.db), [registry.ROOT_KEY])
        self.assertEqual(read(self.db, registry, ids), was)


class TestTheUpgradeStep(JobTestCase):
    """A Plone site at profile 1008 on a database of the registry before the store: the upgrade to 1009 moves it."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_the_upgrade_moves_the_registry_and_jobs_run(self):
        db = self.layer["zodbDB"]
        ids = write_every_state(db)
        was = read(db, before, ids)
        transaction.begin()  # the test's connection sees what was written
        setup = self.portal.portal_setup
        setup.setLastVersionForProfile(PROFILE, "1008")
        titles = [step["title"] for step in setup.listUpgrades(PROFILE)]
        self.assertEqual(titles, [
            "The registry of processes under one key of the database's root",
            "My processes' icon",
            "A century at most for the settings of seconds",
        ])
        with self.assertLogs("netsight.async", "INFO") as logs:
            setup.upgradeProfile(PROFILE)
        self.assertIn(f"moved the registry's {len(ids)} processes", "\n".join(logs.output))
        self.assertEqual(setup.getLastVersionForProfile(PROFILE), ("1011",))
        transaction.commit()
        self.assertEqual(root_keys(db), [registry.ROOT_KEY])
        self.assertEqual(read(db, registry, ids), was)
        url, process_id, answer = self.run_job("hello")
        self.assertEqual(answer["state"], "done")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")
        # Run again (a site upgraded on a database that another site's upgrade moved): nothing to do.
        self.assertEqual(registry.in_own_transaction(db, registry.prepare), (None, 0))
