"""Anonymous visitors within the caps: per client address, their share of
the pool and the queue, their shorter expiry, and the stored request's
blob let go when the job ends."""

from netsight.asynchronous import addresses
from netsight.asynchronous import anonymous
from netsight.asynchronous import claims
from netsight.asynchronous import housekeeping
from netsight.asynchronous import ids
from netsight.asynchronous import owners
from netsight.asynchronous import registry
from netsight.asynchronous import startcommit
from netsight.asynchronous import transactions
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.tests.helpers.base import DEADLINE
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.test_lifecycle import LifecycleTestCase
from netsight.asynchronous.tests.helpers.views import GATES
from netsight.asynchronous.tests.helpers.views import HELD
from netsight.asynchronous.tests.helpers.views import HeldStart
from netsight.asynchronous.tests.helpers.views import new_gate
from unittest import mock
from urllib.parse import urlencode
from ZODB.POSException import StorageError
from zope.component import getGlobalSiteManager
from ZPublisher.interfaces import IPubFailure

import ipaddress
import threading
import transaction


class Visitor(JobBrowser):
    """A cookie-less anonymous client at ``address`` (a new owner at each start)."""

    def __init__(self, app, site_url, address, forwarded=None):
        super().__init__(app, site_url, user=None)
        self.testapp.extra_environ["REMOTE_ADDR"] = address
        if forwarded is not None:
            self.addHeader("X-Forwarded-For", forwarded)

    def try_start(self, url, **form):
        """POST ``form``, forgetting any cookie first; returns (status, process id or None)."""
        self.testapp.cookiejar.clear()
        self.post(url, urlencode(form))
        if self.status != 303:
            return self.status, None
        return self.status, self.headers["Location"].rpartition("process_id=")[2]


class AnonymousTestCase(LifecycleTestCase):
    """Anonymous visitors' starts, each from a client address."""

    def visitor(self, address="192.0.2.7", forwarded=None):
        return Visitor(self.app, self.site_url, address, forwarded)

    def start_anonymous(self, address="192.0.2.7", forwarded=None, expect=303):
        visitor = self.visitor(address, forwarded)
        status, process_id = visitor.try_start(self.url_gate, gate=self.gate)
        self.assertEqual(status, expect, visitor.contents[:300])
        if expect == 503:
            self.assertEqual(visitor.headers["Retry-After"], "30")
            self.assertNotIn(owners.COOKIE, [cookie.name for cookie in visitor.testapp.cookiejar])  # refused: no cookie
        else:
            self.assertIn(owners.COOKIE, [cookie.name for cookie in visitor.testapp.cookiejar])
        return process_id

    def record(self, process_id):
        return self.fresh_record(process_id)

    def key_of(self, address):
        return anonymous.address_key(address, self.app._p_jar.db())

    def finish(self, *ids):
        self.open_gate()
        for process_id in ids:
            wait_until(lambda pid=process_id: self.record(pid).state == registry.DONE, what=f"{process_id} done")


class TestPerAddress(AnonymousTestCase):
    def test_cookieless_starts_of_one_address_stop_at_the_cap_while_a_member_still_starts(self):
        # The case: max-per-user 1, queue-limit 3; five cookie-less starts.
        self.setting("pool-size", 2)
        self.setting("max-per-user", 1)
        self.setting("queue-limit", 3)
        self.setting("max-per-address", 2)
        admitted = [self.start_anonymous() for _ in range(2)]
        for _ in range(3):
            self.start_anonymous(expect=503)  # nothing written: no record, no cookie
        self.assertEqual(POOL.counts()[:2], (1, 1))  # one runs; the other waits for the anonymous share
        mine = self.start_gated()  # a Member still starts, and runs on the free thread
        self.running(mine)
        self.start_anonymous("192.0.2.8", expect=503)  # the visitors' share of the queue (1 of 3) is taken
        self.finish(*admitted, mine)

    def test_the_address_counts_again_once_its_jobs_ended(self):
        self.setting("max-per-address", 1)
        first = self.start_anonymous()
        self.start_anonymous(expect=503)
        self.finish(first)
        self.assertIsNone(self.record(first).address_key)  # an ended record keeps no address
        transaction.begin()
        root = self.app._p_jar.root()
        self.assertEqual(list(registry.index(root, addresses.ADDRESSES_KEY).keys()), [addresses.SENTINEL])  # nor the address's object
        self.start_anonymous()

    def test_an_ipv6_client_is_its_64_network(self):
        self.setting("max-per-address", 1)
        first = self.start_anonymous("2001:db8:1:2::10")
        self.start_anonymous("2001:db8:1:2:ffff::1", expect=503)  # same /64
        self.start_anonymous("2001:db8:1:3::10")  # another /64
        self.finish(first)


class TestTheKey(AnonymousTestCase):
    """The database's first anonymous start makes its key, with the store, in the start's transaction."""

    def test_the_first_anonymous_start_is_published_once(self):
        failures = []

        def failed(event):
            failures.append((event.exc_info[0].__name__, event.retry))

        gsm = getGlobalSiteManager()
        gsm.registerHandler(failed, (IPubFailure,))
        try:
            self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))  # a new database
            process_id = self.start_anonymous("192.0.2.7")
        finally:
            gsm.unregisterHandler(failed, (IPubFailure,))
        self.assertEqual(failures, [])  # no conflict, no run again after a pause
        self.finish(process_id)

    def test_the_record_keeps_a_keyed_hash_of_the_address_not_the_address(self):
        self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))  # a new database: no key yet
        process_id = self.start_anonymous("192.0.2.7")
        key = self.record(process_id).address_key
        self.assertEqual(key, self.key_of(ipaddress.ip_address("192.0.2.7")))
        self.assertNotIn("192.0.2.7", key)
        self.assertEqual(len(key), 64)
        self.assertIsNone(self.record(self.start_gated()).address_key)  # a Member's has none
        self.finish(process_id)


class TestSimultaneousStarts(AnonymousTestCase):
    """Starts at the same moment: the cap is a write, so they conflict and Zope runs them again."""

    def simultaneous_starts(self, addresses, **form):
        """Cookie-less starts from ``addresses`` (one each), released together; their (status, id)."""
        visitors = [self.visitor(address) for address in addresses]
        barrier = threading.Barrier(len(visitors))
        answers = [None] * len(visitors)

        def start(number):
            barrier.wait()
            answers[number] = visitors[number].try_start(self.url_gate, gate=self.gate, **form)

        threads = [threading.Thread(target=start, args=(number,)) for number in range(len(visitors))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE)
        return answers

    def active_of(self, address):
        transaction.begin()
        root, key = self.app._p_jar.root(), self.key_of(ipaddress.ip_address(address))
        records = [registry.find(self.app._p_jar, pid) for pid in registry.active_ids(root)]
        return [record.process_id for record in records if record is not None and record.address_key == key]

    def held_start(self, address, other_address):
        """A start from ``address`` held in the middle of its transaction (it
        passed the checks, its record is added, not committed) while one from
        ``other_address`` is made; returns (the held one's statuses, how many
        times it ran, the other's id)."""
        self.start_anonymous("192.0.2.200")  # the registry's trees exist: the two starts write no root key
        hold = new_gate(self)
        HELD[hold] = threading.Event()
        self.addCleanup(HELD.pop, hold)
        visitor, answers = self.visitor(address), []

        def held_start():
            visitor.testapp.cookiejar.clear()
            visitor.post(self.url("held-start"), urlencode({"gate": self.gate, "hold": hold}))
            answers.append(visitor.status)

        thread = threading.Thread(target=held_start)
        thread.start()
        self.assertTrue(HELD[hold].wait(DEADLINE), "the start was not held")
        other = self.start_anonymous(other_address)  # it sees nothing committed: admitted
        GATES[hold].set()
        thread.join(DEADLINE)
        return answers, HeldStart.attempts.count(hold), other

    def test_a_start_of_the_address_committed_meanwhile_makes_a_held_start_run_again_and_be_refused(self):
        self.setting("max-per-address", 1)
        answers, attempts, other = self.held_start("192.0.2.7", "192.0.2.7")
        # It passed the check once and was held; its commit conflicted, and
        # Zope ran it again: the check counts the other now, and refuses it.
        self.assertEqual((answers, attempts), ([503], 1))
        self.assertEqual(self.active_of("192.0.2.7"), [other])
        self.open_gate()

    def test_a_start_of_another_address_meanwhile_does_not_conflict_with_a_held_start(self):
        self.setting("max-per-address", 1)
        answers, attempts, other = self.held_start("192.0.2.7", "192.0.2.9")
        self.assertEqual((answers, attempts), ([200], 1))  # committed at its first attempt
        self.assertEqual(len(self.active_of("192.0.2.7")), 1)
        self.open_gate()

    def test_simultaneous_cookieless_starts_of_one_address_never_pass_its_cap(self):
        # On a front-end (pool-size 0) each start also stores its request and
        # its 512 KiB body (a blob) after the check: a wide window.
        self.setting("pool-size", 0)
        self.setting("queue-limit", 0)
        self.setting("max-per-address", 2)
        self.setting("anonymous-queue-limit", 0)
        answers = self.simultaneous_starts(["192.0.2.7"] * 8, padding="x" * (1 << 19))
        admitted = sorted(pid for status, pid in answers if status == 303)
        self.assertEqual(sorted(status for status, _pid in answers), [303] * 2 + [503] * 6)
        self.assertEqual(sorted(self.active_of("192.0.2.7")), admitted)
        self.setting("pool-size", 2)
        self.setting("anonymous-pool-size", 2)
        self.assertEqual(claims.claim_queued(self.app._p_jar.db()), 2)
        self.finish(*admitted)
        self.setting("pool-size", 0)
        self.start_anonymous()  # its jobs ended: the address starts again

    def test_a_start_whose_record_is_being_added_counts_for_its_address(self):
        # The first start's request commits its hold on the address; its
        # record is added after (startcommit.py), and waits here for the
        # writer. A second start of the address meanwhile finds the held id
        # without a record: it counts it, and is refused (else it would drop
        # the id and pass the cap).
        self.setting("max-per-address", 1)
        self.start_anonymous("192.0.2.200")  # the registry's trees exist
        key, answers = self.key_of(ipaddress.ip_address("192.0.2.7")), {}

        def held():
            transaction.begin()
            return addresses.process_ids(self.app._p_jar.root(), key)

        with transactions.WRITER:
            thread = threading.Thread(target=lambda: answers.setdefault("first", self.visitor().try_start(self.url_gate, gate=self.gate)))
            thread.start()
            (first,) = wait_until(held, what="the first start's hold committed")
            self.assertIsNone(registry.find(self.app._p_jar, first))  # not added yet
            answers["second"] = self.visitor().try_start(self.url_gate, gate=self.gate)
        thread.join(DEADLINE)
        self.assertEqual(answers, {"first": (303, first), "second": (503, None)})
        self.assertEqual(self.active_of("192.0.2.7"), [first])
        self.open_gate()

    def test_a_held_id_without_a_record_counts_for_a_minute(self):
        now = 1_800_000_000.0
        process_id = ids.new_process_id(now)
        self.assertTrue(addresses.being_added(process_id, now + addresses.ADDING - 1))
        self.assertFalse(addresses.being_added(process_id, now + addresses.ADDING + 1))

    def test_simultaneous_starts_of_different_addresses_all_start(self):
        self.setting("pool-size", 8)
        self.setting("max-per-address", 1)
        self.setting("anonymous-queue-limit", 0)
        answers = self.simultaneous_starts([f"192.0.2.{number}" for number in range(1, 9)])
        self.assertEqual([status for status, _pid in answers], [303] * 8)
        self.finish(*(pid for _status, pid in answers))


class TestRecordNotAdded(AnonymousTestCase):
    def test_an_anonymous_start_whose_record_is_not_added_lets_go_of_its_address(self):
        # Its request held its id on its address; its record's own transaction
        # then met a storage error (a fault put at that seam): the 503 says
        # "try again", and the address can start again at once.
        self.setting("max-per-address", 1)
        self.start_anonymous("192.0.2.200")  # the registry's trees exist
        with mock.patch.object(startcommit, "_add", side_effect=StorageError("No space left on device")):
            with self.assertLogs("netsight.async", "ERROR"):
                self.assertEqual(self.visitor().try_start(self.url_gate, gate=self.gate), (503, None))
        self.start_anonymous()  # without the release, its held id would count for a minute: a 503
        self.open_gate()


class TestForwardedFor(AnonymousTestCase):
    def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_named_proxy(self):
        self.setting("max-per-address", 1)
        first = self.start_anonymous("192.0.2.7", forwarded="198.51.100.1")
        self.assertEqual(self.record(first).address_key, self.key_of(ipaddress.ip_address("192.0.2.7")))
        self.start_anonymous("192.0.2.7", forwarded="198.51.100.2", expect=503)  # the peer counts
        self.finish(first)

    def test_behind_a_named_proxy_the_right_most_untrusted_address_counts(self):
        self.setting("max-per-address", 1)
        self.setting("trusted-proxies", "10.0.0.0/8 192.0.2.7")
        # A client may put anything on the left; what the nearest proxy saw is on the right.
        first = self.start_anonymous("192.0.2.7", forwarded="203.0.113.9, 198.51.100.1, 10.1.2.3")
        self.assertEqual(self.record(first).address_key, self.key_of(ipaddress.ip_address("198.51.100.1")))
        self.start_anonymous("192.0.2.7", forwarded="203.0.113.10, 198.51.100.1", expect=503)
        second = self.start_anonymous("192.0.2.7", forwarded="198.51.100.2")
        self.finish(first, second)


class TestAnonymousShare(AnonymousTestCase):
    def test_anonymous_jobs_take_at_most_their_share_of_threads_and_queue(self):
        self.setting("pool-size", 3)  # their share: 1 thread (half of 3)
        self.setting("queue-limit", 4)  # theirs: 2 waiting (half of 4)
        self.setting("max-per-address", 0)
        visitors = [self.start_anonymous(f"192.0.2.{number}") for number in range(1, 4)]
        self.start_anonymous("192.0.2.9", expect=503)  # two wait already
        wait_until(lambda: self.record(visitors[0]).state == registry.RUNNING, what="the first visitor's job")
        members = [self.start_gated(), self.start_gated()]  # the two other threads are theirs
        for process_id in members:
            self.running(process_id)
        self.assertEqual(POOL.counts(), (3, 2, 3))
        self.assertEqual([self.record(pid).state for pid in visitors[1:]], [registry.QUEUED] * 2)
        self.finish(*visitors, *members)


class TestQueuedBodies(AnonymousTestCase):
    def test_a_queued_jobs_body_past_64_kib_waits_on_disk(self):
        self.setting("pool-size", 1)
        self.setting("max-per-address", 0)
        running = self.start_anonymous("192.0.2.1")
        visitor = self.visitor("192.0.2.2")
        status, queued = visitor.try_start(self.url_gate, gate=self.gate, padding="x" * 1_000_000)
        self.assertEqual(status, 303)
        (job,) = POOL._queue  # the pool's queue, as it holds the job
        self.assertEqual(job.process_id, queued)
        self.assertTrue(job.body._rolled)  # SpooledTemporaryFile: written to its temporary file
        self.finish(running, queued)


class TestExpiry(AnonymousTestCase):
    def test_anonymous_records_expire_at_the_anonymous_expiry(self):
        self.setting("anonymous-expiry", 120)
        visitor = self.visitor()
        process_id = visitor.start(self.url("hello"))
        wait_until(lambda: self.record(process_id).state == registry.DONE, what="the job")
        finished = self.record(process_id).finished
        self.assertEqual(self.record(process_id).expiry, 120)
        db = self.app._p_jar.db()
        housekeeping.expire(db, finished + 119)
        self.assertEqual(visitor.poll(self.url("hello"), process_id)["state"], "done")
        housekeeping.expire(db, finished + 121)
        self.assertEqual(visitor.poll(self.url("hello"), process_id)["state"], "unknown")

    def test_never_longer_than_the_expiry_nor_below_a_minute(self):
        self.setting("expiry", 90)
        self.setting("anonymous-expiry", 10)  # below the minimum: 60
        process_id = self.visitor().start(self.url("hello"))
        self.assertEqual(self.record(process_id).expiry, 60)
        self.setting("anonymous-expiry", 3600)
        other = self.visitor("192.0.2.8").start(self.url("hello"))
        self.assertEqual(self.record(other).expiry, 90)
        for pid in (process_id, other):
            wait_until(lambda pid=pid: self.record(pid).state == registry.DONE, what="the job")


class TestFrontEnd(AnonymousTestCase):
    """Jobs queued in the database (a front-end's): claims apply the caps, the stored request goes at the end."""

    def claim(self):
        return claims.claim_queued(self.app._p_jar.db())

    def test_a_claim_applies_the_address_cap_and_the_anonymous_share(self):
        self.setting("pool-size", 0)
        same = [self.start_anonymous(), self.start_anonymous()]
        other = self.start_anonymous("192.0.2.8")
        self.setting("pool-size", 3)
        self.setting("anonymous-pool-size", 2)
        self.setting("max-per-address", 1)
        self.assertEqual(self.claim(), 2)  # one of the address, and the other address's
        self.assertEqual(self.record(same[1]).instance, registry.UNCLAIMED)
        self.assertEqual(self.claim(), 0)  # the address is at its cap here
        self.open_gate()
        wait_until(lambda: self.record(same[0]).state == registry.DONE, what="the first job")
        wait_until(lambda: self.record(other).state == registry.DONE, what="the other address's job")
        wait_until(lambda: self.claim() or self.record(same[1]).state != registry.QUEUED, what="a claim")
        self.finish(same[1])

    def test_a_front_end_counts_its_unclaimed_anonymous_jobs(self):
        self.setting("pool-size", 0)
        self.setting("queue-limit", 2)  # theirs: 1
        self.setting("max-per-address", 0)
        self.start_anonymous("192.0.2.1")
        self.start_anonymous("192.0.2.2", expect=503)
        self.start_gated()  # a Member's waits too

    def test_the_stored_request_and_its_blob_go_when_the_job_ends(self):
        self.setting("pool-size", 0)
        visitor = self.visitor()
        visitor.testapp.cookiejar.clear()
        visitor.post(self.url_gate, urlencode({"gate": self.gate, "padding": "x" * (1 << 19)}))
        self.assertEqual(visitor.status, 303)
        process_id = visitor.headers["Location"].rpartition("process_id=")[2]
        stored = self.record(process_id).request
        self.assertIsNotNone(stored.blob)  # a 512 KiB body: a blob
        blob_oid = stored.blob._p_oid
        self.setting("pool-size", 1)
        self.assertEqual(self.claim(), 1)
        self.finish(process_id)
        self.assertIsNone(self.record(process_id).request)
        # Nothing in the database refers to the blob any more: a pack removes it.
        transaction.begin()
        connection = self.app._p_jar
        referrers = [pid for pid in registry.active_ids(connection.root())]
        self.assertEqual(referrers, [])
        self.assertNotIn(blob_oid, _reachable(connection))


def _reachable(connection):
    """The oids reachable from the root of ``connection``'s database."""
    from ZODB.serialize import referencesf

    storage = connection.db().storage
    seen, todo = set(), [b"\0" * 8]
    while todo:
        oid = todo.pop()
        if oid in seen:
            continue
        seen.add(oid)
        data, _serial = storage.load(oid)
        todo.extend(referencesf(data))
    return seen
