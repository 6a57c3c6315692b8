"""A job's life under control: the bounded pool and its queue, cancel, the
heartbeat, instances that stopped or died, expiry."""

from netsight.asynchronous import behind
from netsight.asynchronous import cancels
from netsight.asynchronous import claims
from netsight.asynchronous import housekeeping
from netsight.asynchronous import instanceid
from netsight.asynchronous import maintenance
from netsight.asynchronous import registry
from netsight.asynchronous import signals
from netsight.asynchronous.pool import AHEAD
from netsight.asynchronous.pool import POOL
from netsight.asynchronous.pool import REFILL
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import DEADLINE
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import idle_pool
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.test_ownership import OTHER_PASSWORD
from netsight.asynchronous.tests.test_ownership import OTHER_USER
from netsight.asynchronous.tests.helpers.views import Gate
from netsight.asynchronous.tests.helpers.views import GATES
from plone.registry.interfaces import IRegistry
from urllib.parse import urlencode
from zope.component import getUtility

import json
import os
import signal
import threading
import time
import transaction
import uuid


class LifecycleTestCase(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        idle_pool()  # these tests count on the pool's threads
        self.gate = uuid.uuid4().hex
        GATES[self.gate] = threading.Event()
        self.addCleanup(GATES.pop, self.gate)
        self.addCleanup(GATES[self.gate].set)  # run first: no job stays held
        self.url_gate = self.url("gate")

    def setting(self, name, value):
        setting(self, name, value)

    def site_setting(self, name, value):
        """Give setting ``name`` a value in the site's registry (the control panel's record)."""
        getUtility(IRegistry)[f"netsight.async.{name.replace('-', '_')}"] = value
        transaction.commit()

    def start_gated(self, browser=None, **form):
        return (browser or self.browser).start(self.url_gate, gate=self.gate, **form)

    def poll(self, process_id, browser=None):
        return (browser or self.browser).poll(self.url_gate, process_id)

    def running(self, process_id):
        answers = []
        try:
            return wait_until(
                lambda: answers.append(self.poll(process_id)) or answers[-1]["state"] == registry.RUNNING,
                what=f"{process_id} running",
            )
        except AssertionError as exc:  # say what it read instead, and what the pool held
            raise AssertionError(f"{exc}; it read {answers[-1:]}; the pool: {POOL.counts()}") from None

    def open_gate(self):
        GATES[self.gate].set()

    def cancel(self, process_id, browser=None, **form):
        browser = browser or self.browser
        form = {"process_id": process_id, "_authenticator": browser.token, **form}
        browser.post(f"{self.url_gate}/cancel", urlencode(form))
        return browser

    def storage_tid(self):
        return self.app._p_jar.db().storage.lastTransaction()


class TestPoolAndQueue(LifecycleTestCase):
    def test_at_most_pool_size_run_the_others_wait_in_order(self):
        self.setting("pool-size", 2)
        ids = [self.start_gated() for _ in range(5)]
        for process_id in ids[:2]:
            self.running(process_id)
        self.assertEqual(POOL.counts(), (2, 3, 2))  # running, queued, threads
        for ahead, process_id in enumerate(ids[2:]):
            answer = self.poll(process_id)
            self.assertEqual((answer["state"], answer["queue_position"]), (registry.QUEUED, ahead))
            self.assertEqual(answer["completed"], False)
        self.browser.open(f"{self.url_gate}/processing?process_id={ids[4]}")
        self.assertIn("Waiting to start (2 ahead)", page_part(self.browser.text, "status").text)
        self.open_gate()
        for process_id in ids:
            self.assertEqual(self.browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)
        wait_until(lambda: POOL.counts() == (0, 0, 0), what="the pool to be idle")

    def test_with_no_thread_free_a_claim_waits_for_room_for_several_jobs(self):
        self.setting("pool-size", 0)  # a front-end: the starts wait in the database, unclaimed
        self.setting("queue-limit", 0)
        ids = [self.start_gated() for _ in range(2 + AHEAD + REFILL + 1)]  # more wait than it takes ahead
        self.setting("pool-size", 2)
        db = self.app._p_jar.db()
        self.assertEqual(claims.claim_queued(db), 2 + AHEAD)  # its threads' jobs, and as many more ahead
        self.running(ids[0])
        cancelled = ids[2 : 2 + REFILL]
        for process_id in cancelled[:-1]:
            self.assertEqual(self.cancel(process_id).status, 303)
        self.assertEqual(POOL.counts(), (2, AHEAD - REFILL + 1, 2))
        self.assertEqual(claims.claim_queued(db), 0)  # room ahead for fewer than REFILL: not one claim a job
        self.assertEqual(self.cancel(cancelled[-1]).status, 303)
        self.assertEqual(claims.claim_queued(db), REFILL)  # room for several: one claim for them all
        self.assertEqual(POOL.counts(), (2, AHEAD, 2))
        cancelled.append(ids[-1])  # the one left in the database (no instance claims it here)
        self.assertEqual(self.cancel(ids[-1]).status, 303)
        self.open_gate()
        for process_id in ids:
            state = self.browser.wait_for(self.url_gate, process_id)["state"]
            self.assertEqual(state, registry.CANCELLED if process_id in cancelled else registry.DONE)

    def test_in_arrival_order(self):
        self.setting("pool-size", 1)
        ids = [self.start_gated() for _ in range(4)]
        self.running(ids[0])
        self.open_gate()
        for process_id in ids:
            self.browser.wait_for(self.url_gate, process_id)
        self.assertEqual([pid for pid in Gate.ran if pid in ids], ids)

    def test_thirty_jobs_at_once_all_complete_on_two_threads(self):
        self.setting("pool-size", 2)
        count = 30
        self.setting("queue-limit", count)  # the default, 20, would refuse some
        self.open_gate()
        token = self.browser.token
        barrier = threading.Barrier(count)
        started = {}
        most_threads = []

        def start(number):
            browser = JobBrowser(self.app, self.site_url)
            barrier.wait()
            started[number] = (browser, browser.start(self.url_gate, gate=self.gate, _authenticator=token))
            most_threads.append(POOL.counts()[2])

        threads = [threading.Thread(target=start, args=(number,)) for number in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(len({pid for _browser, pid in started.values()}), count)
        for browser, process_id in started.values():
            self.assertEqual(browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)
            self.assertEqual(browser.result(self.url_gate, process_id), f"passed {process_id}")
        self.assertLessEqual(max(most_threads), 2)

    def test_a_per_user_cap(self):
        self.setting("pool-size", 3)
        self.setting("max-per-user", 1)
        self.portal.acl_users.userFolderAddUser(OTHER_USER, OTHER_PASSWORD, ["Member"], [])
        transaction.commit()
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        first, second = self.start_gated(), self.start_gated()
        theirs = self.start_gated(other)
        self.running(first)
        wait_until(lambda: self.poll(theirs, other)["state"] == registry.RUNNING, what="the other user's job")
        self.assertEqual(self.poll(second)["state"], registry.QUEUED)  # the pool has room, the user has not
        self.open_gate()
        self.assertEqual(self.browser.wait_for(self.url_gate, second)["state"], registry.DONE)


class TestSitesCap(LifecycleTestCase):
    """``max-per-user`` from the site's registry: the job keeps it for the pool, which knows no site."""

    def test_the_sites_cap_holds_a_users_second_job_while_the_pool_has_room(self):
        self.setting("pool-size", 3)
        self.setting("max-per-user", 0)  # no cap in the instance's settings...
        self.site_setting("max-per-user", 1)  # ...but one in the site's
        first, second = self.start_gated(), self.start_gated()
        self.running(first)
        self.assertEqual(POOL.counts(), (1, 1, 1))  # running, queued, threads: handed over at the start
        self.assertEqual(self.poll(second)["state"], registry.QUEUED)  # the pool has room, the user has not
        transaction.begin()
        self.assertEqual(registry.find(self.app._p_jar, second).max_per_user, 1)  # kept for another instance too
        self.open_gate()
        for process_id in (first, second):
            self.assertEqual(self.browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)

    def test_the_sites_jobs_at_once_hold_its_second_job_whoever_started_it(self):
        self.setting("pool-size", 3)
        self.site_setting("pool-size", 1)
        manager = owner_browser(self.app, self.site_url)
        first, second = self.start_gated(), self.start_gated(manager)
        self.running(first)
        self.assertEqual(POOL.counts(), (1, 1, 1))  # running, queued, threads: the site's one place is taken
        self.assertEqual(self.poll(second, manager)["state"], registry.QUEUED)
        transaction.begin()
        self.assertEqual(registry.find(self.app._p_jar, second).pool_size, 1)  # kept for another instance too
        self.open_gate()
        for browser, process_id in ((self.browser, first), (manager, second)):
            self.assertEqual(browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)

    def test_a_claim_leaves_a_job_that_its_sites_share_would_hold_back(self):
        self.setting("pool-size", 0)  # a front-end: the starts wait in the database, unclaimed
        self.site_setting("pool-size", 1)
        first, second = self.start_gated(), self.start_gated()
        self.setting("pool-size", 2)  # now an instance with room for both
        db = self.app._p_jar.db()
        self.assertEqual(claims.claim_queued(db), 1)  # the second could only wait here, keeping others' jobs out
        self.running(first)
        self.assertEqual(POOL.counts(), (1, 0, 1))
        self.assertEqual(claims.claim_queued(db), 0)
        self.open_gate()
        self.browser.wait_for(self.url_gate, first)
        wait_until(lambda: POOL.counts() == (0, 0, 0), what="the pool to be idle")
        self.assertEqual(claims.claim_queued(db), 1)
        self.assertEqual(self.browser.wait_for(self.url_gate, second)["state"], registry.DONE)

    def test_without_the_sites_cap_the_instances_applies(self):
        self.setting("pool-size", 3)
        self.setting("max-per-user", 1)
        first, second = self.start_gated(), self.start_gated()
        self.running(first)
        self.assertEqual(POOL.counts(), (1, 1, 1))
        self.assertEqual(self.poll(second)["state"], registry.QUEUED)
        transaction.begin()
        self.assertIsNone(registry.find(self.app._p_jar, second).max_per_user)  # where it runs decides
        self.open_gate()
        for process_id in (first, second):
            self.browser.wait_for(self.url_gate, process_id)


class TestQueueLimit(LifecycleTestCase):
    """``queue-limit``: a start that would wait behind that many jobs is refused, 503, nothing written."""

    def refused_start(self, browser=None, **headers):
        browser = browser or JobBrowser(self.app, self.site_url)
        browser.handleErrors, browser.raiseHttpErrors = True, False
        for name, value in headers.items():
            browser.addHeader(name, value)
        before = self.records()
        browser.post(self.url_gate, urlencode({"gate": self.gate, "_authenticator": self.browser.token}))
        self.assertEqual(browser.status, 503, browser.contents[:500])
        self.assertEqual(browser.headers["Retry-After"], "30")
        self.assertEqual(self.records(), before)  # nothing written
        return browser

    def records(self):
        transaction.begin()
        return sorted(self.app._p_jar.root().get(registry.ROOT_KEY, {}).keys())

    def test_a_start_behind_the_limit_is_refused_with_503_until_the_queue_moves(self):
        self.setting("pool-size", 1)
        self.setting("queue-limit", 2)
        ids = [self.start_gated() for _ in range(3)]  # one runs, two wait
        self.running(ids[0])
        browser = self.refused_start()
        self.assertIn("Too many processes are waiting to start.", page_part(browser.contents, "busy").text_content())
        answer = json.loads(self.refused_start(Accept="application/json").contents)
        self.assertIn("Too many processes are waiting to start (2)", answer["error"])
        self.open_gate()
        for process_id in ids:
            self.assertEqual(self.browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)
        self.browser.wait_for(self.url_gate, self.start_gated())  # room again

    def test_while_the_pool_has_room_the_limit_does_not_apply(self):
        self.setting("pool-size", 2)
        self.setting("queue-limit", 1)
        first, second = self.start_gated(), self.start_gated()  # both run at once
        third = self.start_gated()  # the first to wait
        self.assertEqual(self.poll(third)["queue_position"], 0)
        self.refused_start()
        self.open_gate()
        for process_id in (first, second, third):
            self.browser.wait_for(self.url_gate, process_id)

    def test_the_sites_registry_sets_it(self):
        self.setting("pool-size", 1)
        self.setting("queue-limit", 0)  # no limit in the instance's settings...
        self.site_setting("queue-limit", 1)  # ...but one in the site's
        running, waiting = self.start_gated(), self.start_gated()
        self.running(running)
        self.refused_start()
        self.open_gate()
        for process_id in (running, waiting):
            self.browser.wait_for(self.url_gate, process_id)

    def test_jobs_held_by_their_owners_cap_do_not_turn_others_away(self):
        self.setting("pool-size", 2)
        self.setting("max-per-user", 1)
        self.setting("queue-limit", 1)
        self.portal.acl_users.userFolderAddUser(OTHER_USER, OTHER_PASSWORD, ["Member"], [])
        transaction.commit()
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        mine = [self.start_gated(), self.start_gated()]  # one runs, one waits for my cap
        self.running(mine[0])
        theirs = self.start_gated(other)  # a thread is free for them: nothing to wait behind
        wait_until(lambda: self.poll(theirs, other)["state"] == registry.RUNNING, what="the other user's job")
        self.refused_start(self.browser)  # my third would wait behind my second
        self.open_gate()
        for process_id in mine:
            self.browser.wait_for(self.url_gate, process_id)

    def test_a_1x_view_that_calls_run_itself_is_answered_503_too(self):
        self.setting("pool-size", 1)
        self.setting("queue-limit", 1)
        running, waiting = self.start_gated(), self.start_gated()
        self.running(running)
        browser = JobBrowser(self.app, self.site_url)
        browser.handleErrors, browser.raiseHttpErrors = True, False
        browser.post(self.url("legacy-export"), urlencode({"_authenticator": self.browser.token}))
        self.assertEqual(browser.status, 503)
        self.assertEqual(browser.headers["Retry-After"], "30")
        self.open_gate()
        for process_id in (running, waiting):
            self.browser.wait_for(self.url_gate, process_id)

    def test_a_front_end_counts_the_jobs_waiting_in_the_database(self):
        self.setting("pool-size", 0)  # a front-end: its jobs wait unclaimed (no worker claims them here)
        self.setting("queue-limit", 2)
        waiting = [self.start_gated(), self.start_gated()]
        for process_id in waiting:
            self.assertEqual(self.poll(process_id)["state"], registry.QUEUED)
        self.refused_start()


class TestCancel(LifecycleTestCase):
    def test_a_queued_job_never_runs(self):
        self.setting("pool-size", 1)
        running, queued = self.start_gated(), self.start_gated()
        self.running(running)
        browser = self.cancel(queued)
        self.assertEqual(browser.status, 303)
        self.assertEqual(browser.headers["Location"], f"{self.site_url}/@@gate/processing?process_id={queued}")
        answer = self.poll(queued)
        self.assertEqual((answer["state"], answer["completed"]), (registry.CANCELLED, "ERROR"))
        self.assertEqual(answer["error"], "The process was cancelled.")
        self.assertEqual(POOL.counts()[1], 0)  # it left the queue
        self.open_gate()
        self.browser.wait_for(self.url_gate, running)
        self.assertNotIn(queued, Gate.ran)

    def test_a_running_job_stops_at_its_next_report_and_its_work_is_aborted(self):
        process_id = self.start_gated(report="1")
        self.running(process_id)
        self.cancel(process_id, output_json="1")
        self.assertEqual(self.browser.headers["Content-Type"], "application/json")
        self.assertIn(json.loads(self.browser.contents)["state"], (registry.RUNNING, registry.CANCELLED))
        answer = self.browser.wait_for(self.url_gate, process_id)
        self.assertEqual((answer["state"], answer["completed"]), (registry.CANCELLED, "ERROR"))
        transaction.begin()
        self.assertNotEqual(getattr(self.portal, "gate_work", None), process_id)
        # Its page says so, with a link back to the form; status 200: no error.
        self.browser.open(f"{self.url_gate}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 200)
        self.assertIn("The process was cancelled.", self.browser.text)

    def test_is_cancelled(self):
        process_id = self.start_gated(check="1")
        self.running(process_id)
        self.cancel(process_id)
        answer = self.browser.wait_for(self.url_gate, process_id)
        self.assertEqual(answer["state"], registry.DONE)  # it returned, by its own choice
        self.assertEqual(self.browser.result(self.url_gate, process_id), "stopped by is_cancelled")

    def test_only_the_owner_with_a_post_and_the_token(self):
        process_id = self.start_gated()
        self.portal.acl_users.userFolderAddUser(OTHER_USER, OTHER_PASSWORD, ["Member"], [])
        transaction.commit()
        other = JobBrowser(self.app, self.site_url, OTHER_USER, OTHER_PASSWORD)
        self.assertEqual(self.cancel(process_id, other).status, 404)
        self.browser.open(f"{self.url_gate}/cancel?process_id={process_id}")
        self.assertEqual(self.browser.status, 405)
        self.browser.post(f"{self.url_gate}/cancel", urlencode({"process_id": process_id}))
        self.assertEqual(self.browser.status, 403)
        self.assertIn(self.poll(process_id)["state"], (registry.QUEUED, registry.RUNNING))


class TestInstancesThatStoppedOrDied(LifecycleTestCase):
    def make_orphan(self, process_id, beat_age, stopped=False):
        """Make the job look like one of another instance, last seen ``beat_age`` seconds ago."""
        db = self.app._p_jar.db()
        dead, long_ago = "dead-instance", time.time() - beat_age

        def move(root):
            record = root[registry.ROOT_KEY][process_id]
            registry.change_in(root, process_id, lambda r: setattr(r, "instance", dead))
            record.started = record.created = long_ago
            registry.beat_in(root, dead, stopped=stopped)
            registry.index(root, registry.INSTANCES_KEY)[dead].beat = long_ago

        registry.in_own_transaction(db, move)
        return db

    def test_a_missed_heartbeat_reads_interrupted_without_a_write(self):
        self.setting("heartbeat-timeout", 60)
        process_id = self.start_gated()
        self.running(process_id)
        db = self.make_orphan(process_id, beat_age=61)
        # This instance's maintenance thread writes nothing meanwhile (its
        # heartbeat, due whenever, would move the storage's last transaction).
        maintenance.MAINTENANCE.release(db)
        try:
            before = self.storage_tid()
            answer = self.poll(process_id)
            after = self.storage_tid()
        finally:
            maintenance.MAINTENANCE.watch(db)
        self.assertEqual((answer["state"], answer["completed"]), (registry.INTERRUPTED, "ERROR"))
        self.assertEqual(answer["error"], "The server was stopped before the process completed.")
        self.assertEqual(after, before)  # the poll derived it
        self.assertEqual(self.fresh_record(process_id).state, registry.RUNNING)
        # Housekeeping marks it, once, whoever runs it first.
        passes = [threading.Thread(target=housekeeping.mark_dead, args=(db, instanceid.instance_id(), time.time())) for _ in range(3)]
        for thread in passes:
            thread.start()
        for thread in passes:
            thread.join()
        record = self.fresh_record(process_id)
        self.assertEqual((record.state, record.error), (registry.INTERRUPTED, registry.DEAD_REASON))
        # The job's own end changes nothing any more.
        self.open_gate()
        wait_until(lambda: POOL.counts() == (0, 0, 0), what="the pool to be idle")
        self.assertEqual(self.fresh_record(process_id).state, registry.INTERRUPTED)

    def test_a_recent_heartbeat_is_alive(self):
        process_id = self.start_gated()
        self.running(process_id)
        self.make_orphan(process_id, beat_age=5)
        self.assertEqual(self.poll(process_id)["state"], registry.RUNNING)

    def test_a_stopped_instance_is_interrupted_at_once(self):
        process_id = self.start_gated()
        self.running(process_id)
        self.make_orphan(process_id, beat_age=0, stopped=True)
        self.assertEqual(self.poll(process_id)["state"], registry.INTERRUPTED)

    def test_stopping_marks_this_instances_jobs(self):
        self.setting("pool-size", 1)
        running, queued = self.start_gated(), self.start_gated()
        self.running(running)
        db = self.app._p_jar.db()
        signals.mark_stopped(db)
        for process_id in (running, queued):
            record = self.fresh_record(process_id)
            self.assertEqual((record.state, record.error), (registry.INTERRUPTED, registry.STOPPED_REASON))
            self.assertEqual(self.poll(process_id)["completed"], "ERROR")
        # Started again (a test, not a real restart): no longer stopped.
        registry.in_own_transaction(db, lambda root: registry.beat_in(root, instanceid.instance_id()))

    def test_stopping_writes_the_ends_written_behind_first(self):
        process_id = self.start_gated()
        self.running(process_id)
        db = self.app._p_jar.db()
        self.addCleanup(registry.in_own_transaction, db, lambda root: registry.beat_in(root, instanceid.instance_id()))
        self.addCleanup(self.open_gate)
        self.addCleanup(setattr, signals, "STOP_DEADLINE", signals.STOP_DEADLINE)
        signals.STOP_DEADLINE = 2 * DEADLINE  # it waits for the write, however slow the machine
        writing, written = threading.Event(), threading.Event()
        self.addCleanup(written.set)

        def end(root):  # a job's end, written behind (behind.py), slowly
            writing.set()
            written.wait(DEADLINE)
            return registry.change_in(root, process_id, lambda record: record.fail("it ended before the stop"))

        behind.WRITER.submit(db, end)
        self.assertTrue(writing.wait(DEADLINE))
        stopping = threading.Thread(target=signals.mark_stopped, args=(db,), daemon=True)
        stopping.start()
        wait_until(behind.WRITER.flushing, what="the stop to wait for the ends written behind")
        written.set()
        stopping.join(DEADLINE)
        self.assertFalse(stopping.is_alive())
        record = self.fresh_record(process_id)
        self.assertEqual((record.state, record.error), (registry.FAILED, "it ended before the stop"))


class TestHeartbeat(LifecycleTestCase):
    def test_one_write_per_beat_while_there_are_jobs_none_without(self):
        db = self.app._p_jar.db()
        self.assertFalse(maintenance.MAINTENANCE.beat(db))  # no jobs: nothing written
        process_id = self.start_gated()
        self.running(process_id)
        before = self.storage_tid()
        self.assertTrue(maintenance.MAINTENANCE.beat(db))
        self.assertNotEqual(self.storage_tid(), before)
        transaction.begin()
        beat = registry.instances(self.app._p_jar.root())[instanceid.instance_id()]
        self.assertLess(time.time() - beat.beat, 5)
        self.open_gate()
        self.browser.wait_for(self.url_gate, process_id)
        wait_until(lambda: POOL.counts() == (0, 0, 0), what="the pool to be idle")
        before = self.storage_tid()
        self.assertFalse(maintenance.MAINTENANCE.beat(db))
        self.assertEqual(self.storage_tid(), before)

    def own_beat(self):
        transaction.begin()
        record = registry.instances(self.app._p_jar.root()).get(instanceid.instance_id())
        return None if record is None else record.beat

    def settled_beat(self):
        """This instance's beat once the maintenance thread wrote any it was asked for at once (a
        database new to it beats at once): its pass under way has ended, with nothing more due now."""
        wait_until(lambda: not maintenance.MAINTENANCE._beat_now, what="the beat asked for at once")
        with maintenance.MAINTENANCE._pass:
            return self.own_beat()

    def test_jobs_one_after_another_write_no_heartbeat_each(self):
        """A heartbeat is due within its interval of a job's start, not at once: each job
        would otherwise cost a write of its own (the storage's transactions counted here)."""
        self.setting("heartbeat-timeout", 3600)
        self.setting("heartbeat-interval", 1200)
        first = self.start_gated()
        self.running(first)
        self.settled_beat()
        self.assertTrue(maintenance.MAINTENANCE.beat(self.app._p_jar.db()))  # its beat, written
        before = self.own_beat()
        self.open_gate()
        self.assertEqual(self.browser.wait_for(self.url_gate, first)["state"], registry.DONE)
        for _job in range(3):
            process_id = self.start_gated()
            self.assertEqual(self.browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)
        self.assertEqual(self.own_beat(), before)

    def test_a_job_after_a_long_idle_reads_running_and_its_beat_follows(self):
        """An instance idle for longer than heartbeat-timeout writes no beat; its next job's
        record stands for one (its start) until the beat, due within a heartbeat interval
        where the idle instance's next was six intervals away."""
        self.setting("heartbeat-timeout", 30)
        self.setting("heartbeat-interval", 10)
        db = self.app._p_jar.db()
        maintenance.MAINTENANCE.watch(db)  # the database is the thread's: a job's start is no news to it
        self.settled_beat()
        iid, long_ago = instanceid.instance_id(), time.time() - 3600
        registry.in_own_transaction(
            db, lambda root: registry.beat_in(root, iid) or setattr(registry.instances(root)[iid], "beat", long_ago)
        )
        started = time.time()
        process_id = self.start_gated()
        self.running(process_id)
        self.assertEqual(self.poll(process_id)["state"], registry.RUNNING)  # its beat most likely not written yet
        wait_until(lambda: self.own_beat() >= started, timeout=30, what="the beat, within a heartbeat interval (10 s)")
        self.assertEqual(self.poll(process_id)["state"], registry.RUNNING)

    def test_a_cancel_asked_elsewhere_is_learnt_at_the_beat(self):
        process_id = self.start_gated(check="1")
        self.running(process_id)
        db = self.app._p_jar.db()
        registry.change(db, process_id, registry.ProcessRecord.request_cancel)  # as another instance would
        maintenance.MAINTENANCE.beat(db)
        self.assertEqual(self.browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)
        self.assertEqual(self.browser.result(self.url_gate, process_id), "stopped by is_cancelled")

    def test_a_cancel_asked_elsewhere_is_learnt_without_waiting_for_the_beat(self):
        """The maintenance thread looks for cancels every ``cancel-interval``
        while jobs run here: no heartbeat is due for the rest of the test."""
        self.setting("heartbeat-timeout", 3600)
        self.setting("heartbeat-interval", 1200)
        self.setting("cancel-interval", 0.05)
        process_id = self.start_gated(check="1")
        self.running(process_id)
        db = self.app._p_jar.db()
        before = self.storage_tid()
        registry.change(db, process_id, registry.ProcessRecord.request_cancel)  # as another instance would
        self.assertEqual(self.browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)
        self.assertEqual(self.browser.result(self.url_gate, process_id), "stopped by is_cancelled")
        self.assertGreater(self.storage_tid(), before)

    def test_looking_for_cancels_writes_nothing(self):
        process_id = self.start_gated(check="1")
        self.running(process_id)
        db = self.app._p_jar.db()
        maintenance.MAINTENANCE.release(db)  # its heartbeat would write meanwhile
        before = self.storage_tid()
        self.assertEqual(cancels.learn_cancels(db), 0)
        self.assertEqual(self.storage_tid(), before)
        registry.change(db, process_id, registry.ProcessRecord.request_cancel)  # as another instance would
        before = self.storage_tid()
        cancels.learn_cancels(db)  # the maintenance thread may have learnt it first: 0 or 1
        self.assertTrue(cancels.cancel_asked(process_id))
        self.assertEqual(self.storage_tid(), before)


class TestSignals(LifecycleTestCase):
    """SIGINT in this test run's process, with handlers of our choosing before ours."""

    def setUp(self):
        super().setUp()
        for signum in signals.SIGNALS:
            self.addCleanup(signal.signal, signum, signal.getsignal(signum))
        self.addCleanup(signals._stopping.clear)
        self.addCleanup(setattr, signals, "_stop_pending", None)

    def stopped_mark(self):
        transaction.begin()
        return registry.is_stopped(self.app._p_jar.root(), instanceid.instance_id())

    def test_an_ignored_signal_stays_ignored(self):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.assertTrue(signals.install_signal_handlers())
        self.assertIs(signal.getsignal(signal.SIGINT), signal.SIG_IGN)
        process_id = self.start_gated()
        self.running(process_id)
        os.kill(os.getpid(), signal.SIGINT)
        self.assertFalse(signals.stopping())
        self.assertFalse(self.stopped_mark())
        self.assertEqual(self.poll(process_id)["state"], registry.RUNNING)

    def test_a_handler_that_returns_marks_nothing(self):
        seen = []
        signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
        self.assertTrue(signals.install_signal_handlers())
        process_id = self.start_gated()
        self.running(process_id)
        os.kill(os.getpid(), signal.SIGINT)  # os.kill runs the handlers of a signal to itself before it returns
        self.assertEqual(seen, [signal.SIGINT])  # handed on
        self.assertFalse(signals.stopping())
        self.assertFalse(self.stopped_mark())
        self.assertEqual(self.poll(process_id)["state"], registry.RUNNING)
        self.open_gate()
        self.assertEqual(self.browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)

    def test_a_signals_exception_marks_the_instance_stopped_when_the_process_ends(self):
        """KeyboardInterrupt (SIGINT under runwsgi): no more claims at once, the
        marks when the process ends (runwsgi closing its databases, or atexit)."""
        import Zope2

        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.assertTrue(signals.install_signal_handlers())
        ends = [getattr(hook, "callback", None) for hook in Zope2.opened]
        self.assertEqual(ends[0], signals.process_ends)  # closed by runwsgi before any database
        process_id = self.start_gated()
        self.running(process_id)
        with self.assertRaises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # os.kill runs the handlers of a signal to itself
        self.assertTrue(signals.stopping())  # it claims nothing more
        self.assertFalse(self.stopped_mark())  # the process may go on: nothing written yet
        self.assertEqual(self.poll(process_id)["state"], registry.RUNNING)
        self.assertTrue(signals.process_ends())  # what runwsgi's close of Zope2.opened calls
        self.assertTrue(self.stopped_mark())
        answer = self.poll(process_id)
        self.assertEqual((answer["state"], answer["completed"]), (registry.INTERRUPTED, "ERROR"))
        self.assertEqual(self.fresh_record(process_id).error, registry.STOPPED_REASON)
        self.assertFalse(signals.process_ends())  # once (atexit comes after runwsgi's close)

    def test_a_second_signal_during_the_first_is_handled_after_it(self):
        """Ctrl-C twice: Python runs the handler again within the first (here, the second SIGINT
        comes while the handler before ours runs); that second run waited for the locks the first
        held, and the instance hung. It is handled after the first, never within it."""
        calls, depth, deepest = [], [0], [0]

        def interrupted_twice(signum, frame):
            depth[0] += 1
            deepest[0] = max(deepest[0], depth[0])
            try:
                calls.append(signum)
                if len(calls) == 1:
                    os.kill(os.getpid(), signal.SIGINT)  # the second, while this one runs
                    for _ in range(1000):  # bytecodes: where Python runs a pending handler
                        pass
                raise KeyboardInterrupt
            finally:
                depth[0] -= 1

        signal.signal(signal.SIGINT, interrupted_twice)
        self.assertTrue(signals.install_signal_handlers())
        process_id = self.start_gated()
        self.running(process_id)
        with self.assertRaises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        self.assertEqual((calls, deepest[0]), ([signal.SIGINT, signal.SIGINT], 1))  # both, one after the other
        self.assertTrue(signals.stopping())
        self.assertTrue(signals.process_ends())
        self.assertTrue(self.stopped_mark())
        self.assertEqual(self.poll(process_id)["state"], registry.INTERRUPTED)

    def test_a_job_that_ends_between_the_signal_and_the_end_of_the_process_reads_done(self):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.assertTrue(signals.install_signal_handlers())
        process_id = self.start_gated()
        self.running(process_id)
        with self.assertRaises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        self.open_gate()
        self.assertEqual(self.browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)
        self.assertTrue(signals.process_ends())
        self.assertTrue(self.stopped_mark())
        self.assertEqual(self.poll(process_id)["state"], registry.DONE)

    def test_an_instance_whose_signals_exception_was_caught_never_reads_stopped(self):
        """The exception of the signal is caught (here, by the test) and the
        process serves on: nothing says it stopped, its jobs end done, and
        after STOP_GRACE it claims jobs again."""
        self.addCleanup(setattr, signals, "STOP_GRACE", signals.STOP_GRACE)
        signals.STOP_GRACE = 1.0
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.assertTrue(signals.install_signal_handlers())
        running = self.start_gated()
        self.running(running)
        with self.assertRaises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        self.assertTrue(signals.stopping())
        seen = []

        def serving_again():
            seen.append((self.stopped_mark(), self.poll(running)["state"]))
            return not signals.stopping()

        wait_until(serving_again, what="the instance to take jobs again")
        self.assertEqual(set(seen), {(False, registry.RUNNING)})  # never stopped, its job running all along
        started = self.start_gated()
        self.running(started)
        self.open_gate()
        for process_id in (running, started):
            self.assertEqual(self.browser.wait_for(self.url_gate, process_id)["state"], registry.DONE)
        self.assertFalse(signals.process_ends())  # its end, later, without a signal: nothing to mark
        self.assertFalse(self.stopped_mark())


class TestMaintenance(LifecycleTestCase):
    """What a test's tear-down, or a script about to close its database, counts on."""

    def setUp(self):
        super().setUp()
        self.db, self.maintenance = self.app._p_jar.db(), maintenance.MAINTENANCE
        self.claiming, self.go_on = threading.Event(), threading.Event()
        self.addCleanup(self.go_on.set)  # never leave the thread blocked

        def claimer(claim_db):
            self.claiming.set()
            self.go_on.wait(DEADLINE)

        self.addCleanup(setattr, self.maintenance, "claimer", self.maintenance.claimer)
        self.maintenance.claimer = claimer
        self.setting("claim-interval", 0.05)

    def test_release_waits_for_the_pass_under_way(self):
        self.maintenance.watch(self.db)
        self.assertTrue(self.claiming.wait(DEADLINE), "the maintenance thread never claimed")
        released = threading.Event()
        releasing = threading.Thread(target=lambda: (self.maintenance.release(self.db), released.set()))
        releasing.start()
        wait_until(lambda: self.maintenance.db is None, what="the database let go")
        releasing.join(0.5)
        self.assertFalse(released.is_set(), "release() returned while a pass used the database")
        self.go_on.set()
        self.assertTrue(released.wait(DEADLINE))
        releasing.join(DEADLINE)

    def test_a_database_let_go_is_left_alone_and_costs_no_cpu(self):
        self.go_on.set()
        self.maintenance.watch(self.db)
        self.assertTrue(self.claiming.wait(DEADLINE), "the maintenance thread never claimed")
        self.maintenance.release(self.db)
        self.claiming.clear()
        before = thread_cpu_ticks(self.maintenance)
        self.maintenance.poke()
        self.assertFalse(self.claiming.wait(1.0), "the maintenance thread claimed on a database let go")
        # Idle, it waits for watch() or poke(); a loop that did not wait would take the whole second.
        self.assertLess(thread_cpu_ticks(self.maintenance) - before, 30)  # of about 100 a second


def thread_cpu_ticks(thread):
    """The CPU time ``thread`` used so far, in clock ticks, as the kernel counts it."""
    with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


class TestExpiry(LifecycleTestCase):
    def test_ended_processes_expire_by_housekeeping_never_by_a_poll(self):
        self.open_gate()
        url, process_id, answer = self.run_job("fails")
        self.setting("expiry", 3600)
        db = self.app._p_jar.db()
        self.assertEqual(housekeeping.expire(db, time.time()), 0)  # not yet
        self.setting("expiry", 0)
        wait_until(lambda: time.time() > self.fresh_record(process_id).finished, what="a tick")
        before = self.storage_tid()
        answer = self.browser.poll(url, process_id)
        self.assertEqual((self.browser.status, answer["state"]), (404, "unknown"))  # gone, as read
        self.assertEqual(self.storage_tid(), before)
        self.assertIsNotNone(self.fresh_record(process_id))
        self.assertEqual(housekeeping.expire(db, time.time()), 1)
        self.assertIsNone(self.fresh_record(process_id))
        root = self.app._p_jar.root()
        self.assertEqual(len(registry.index(root, registry.ENDED_KEY)), 0)

    def test_a_sites_expiry_applies_to_the_processes_started_after_it_was_set(self):
        self.open_gate()
        self.setting("expiry", 3600)  # the instance's
        url, kept, _answer = self.run_job("fails")
        self.site_setting("expiry", 60.0)  # the shortest the control panel takes
        url, gone, _answer = self.run_job("fails")
        self.assertEqual((self.fresh_record(kept).expiry, self.fresh_record(gone).expiry), (None, 60.0))
        db = self.app._p_jar.db()
        self.assertEqual(housekeeping.expire(db, time.time()), 0)  # not yet
        self.assertEqual(housekeeping.expire(db, time.time() + 61), 1)  # its site's expiry is over
        self.assertIsNone(self.fresh_record(gone))
        self.assertIsNotNone(self.fresh_record(kept))  # the instance's is not

    def test_an_index_entry_whose_record_went_is_forgotten_too(self):
        # An instance of another version removed the record, not its entry:
        # housekeeping goes through it once, and on.
        self.open_gate()
        self.setting("expiry", 0)
        url, process_id, _answer = self.run_job("fails")
        db = self.app._p_jar.db()
        registry.in_own_transaction(db, lambda root: root[registry.ROOT_KEY].pop(process_id))
        wait_until(lambda: time.time() > self.fresh_record_time(process_id), what="a tick")
        self.assertEqual(housekeeping.expire(db, time.time()), 1)
        transaction.begin()
        self.assertEqual(len(registry.index(self.app._p_jar.root(), registry.ENDED_KEY)), 0)
        self.assertEqual(housekeeping.expire(db, time.time()), 0)

    def fresh_record_time(self, process_id):
        """The end time of ``process_id`` in the index of end times."""
        transaction.begin()
        return next(end for (end, pid) in registry.index(self.app._p_jar.root(), registry.ENDED_KEY).keys() if pid == process_id)

    def test_a_sites_longer_expiry_keeps_its_processes_past_the_instances(self):
        self.open_gate()
        self.setting("expiry", 0)  # the instance's
        self.site_setting("expiry", 3600.0)
        url, process_id, answer = self.run_job("fails")
        wait_until(lambda: time.time() > self.fresh_record(process_id).finished, what="a tick")
        self.assertEqual(self.browser.poll(url, process_id)["state"], registry.FAILED)
        db = self.app._p_jar.db()
        self.assertEqual(housekeeping.expire(db, time.time()), 0)
        self.assertEqual(housekeeping.expire(db, time.time() + 3601), 1)
        self.assertIsNone(self.fresh_record(process_id))
        root = self.app._p_jar.root()
        self.assertEqual(len(registry.index(root, registry.EXPIRES_KEY)), 0)

    def test_a_fetched_result_is_removed_at_once_its_record_at_its_expiry(self):
        self.open_gate()
        url, process_id, answer = self.run_job("hello")
        self.browser.result(url, process_id)
        record = self.fresh_record(process_id)
        self.assertIsNone(record.result)  # the record stays without it, to tell its owner
        self.assertEqual(housekeeping.expire(self.app._p_jar.db(), record.finished + 86400 - 1), 0)
        self.assertEqual(housekeeping.expire(self.app._p_jar.db(), record.finished + 86400 + 1), 1)
        transaction.begin()
        root = self.app._p_jar.root()
        self.assertNotIn(process_id, [pid for (_end, pid) in registry.index(root, registry.ENDED_KEY).keys()])
        self.assertIsNone(self.fresh_record(process_id))


class TestNothingReadsRunningForEver(LifecycleTestCase):
    """What the review found: records that no instance would ever end."""

    def add_record(self, instance_id, age):
        db = self.app._p_jar.db()
        process_id = uuid.uuid4().hex

        def add(root):
            record = registry.ProcessRecord(process_id, "gate", "/plone", "someone")
            registry.add(root._p_jar, record, instance_id, 1)
            record.created = time.time() - age

        registry.in_own_transaction(db, add)
        return db, process_id

    def test_an_active_record_its_pool_lost_is_interrupted_at_the_beat(self):
        self.setting("heartbeat-timeout", 60)
        db, process_id = self.add_record(instanceid.instance_id(), age=61)  # in no pool: its worker lost it
        maintenance.MAINTENANCE.beat(db)
        record = self.fresh_record(process_id)
        self.assertEqual((record.state, record.error), (registry.INTERRUPTED, maintenance.LOST_REASON))

    def test_an_instance_that_died_before_its_first_beat(self):
        self.setting("heartbeat-timeout", 60)
        db, process_id = self.add_record("died-before-beating", age=61)
        housekeeping.mark_dead(db, instanceid.instance_id(), time.time())
        self.assertEqual(self.fresh_record(process_id).state, registry.INTERRUPTED)

    def test_an_interrupted_job_stops_at_its_next_report(self):
        process_id = self.start_gated(report="1")
        self.running(process_id)
        registry.change(self.app._p_jar.db(), process_id, lambda r: r.interrupt(registry.DEAD_REASON))
        # The gate stays shut: the job ends by itself, its pool thread is free again.
        wait_until(lambda: POOL.counts() == (0, 0, 0), what="the job to stop")
        self.assertEqual(self.fresh_record(process_id).state, registry.INTERRUPTED)

    def test_the_heartbeat_fits_in_its_timeout(self):
        self.setting("heartbeat-interval", 60)
        self.setting("heartbeat-timeout", 60)
        self.assertEqual(maintenance.heartbeat_interval(), 20)

    def test_a_forked_worker_is_an_instance_of_its_own(self):
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # the child: say its id, and leave at once
            os.write(write, instanceid.instance_id().encode())
            os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        with os.fdopen(read) as pipe:
            child_id = pipe.read()
        self.assertNotEqual(child_id, instanceid.instance_id())
        self.assertIn(f":{child}:", child_id)
