"""Priorities (issue 27, point 2): a higher one starts first, equal ones in arrival order, a low one ages."""

from netsight.asynchronous import claims
from netsight.asynchronous import registry
from netsight.asynchronous import scheduling
from netsight.asynchronous.limits import JobLimits
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.pool import Pool
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.views import GATES
from netsight.asynchronous.tests.helpers.views import LATER_RUNS
from netsight.asynchronous.tests.helpers.views import new_gate

import threading
import transaction
import unittest


class OrderedJob:
    """A job that notes when it ran (``order``), and runs until its gate opens."""

    def __init__(self, name, order, priority=0, created=0.0):
        self.process_id = name
        self.limits = JobLimits("someone", "", priority=priority, created=created)
        self.order = order
        self.gate = threading.Event()

    def run(self):
        self.order.append(self.process_id)
        self.gate.wait(60)

    def discard(self, error=None):
        pass


class TestPoolOrder(unittest.TestCase):
    """An instance's own queue: one thread, held by a first job while the others wait."""

    def setUp(self):
        setting(self, "job-threads", 1)
        setting(self, "max-per-user", 0)
        self.pool = Pool()
        self.order = []

    def pool_step(self):
        """End the job that runs now (the last one in ``order``)."""
        running = len(self.order)
        for job in self.jobs_by_name.values():
            if job.process_id == self.order[-1]:
                job.gate.set()
        wait_until(lambda: len(self.order) > running or self.pool.counts() == (0, 0, 0), what="the next job")

    def order_of(self, *jobs):
        self.jobs_by_name = {job.process_id: job for job in jobs}
        blocker = OrderedJob("blocker", self.order)
        self.jobs_by_name["blocker"] = blocker
        self.addCleanup(lambda: [job.gate.set() for job in self.jobs_by_name.values()])
        self.pool.submit(blocker)
        wait_until(lambda: self.order == ["blocker"], what="the blocker's start")
        for job in jobs:
            self.pool.submit(job)
        while len(self.order) < len(jobs) + 1:
            self.pool_step()
        self.pool_step()
        wait_until(lambda: self.pool.counts() == (0, 0, 0), what="an idle pool")
        return self.order[1:]

    def test_a_higher_priority_first_equal_ones_in_arrival_order(self):
        jobs = [
            OrderedJob("a0", self.order, 0, 100.0),
            OrderedJob("b5", self.order, 5, 101.0),
            OrderedJob("c-5", self.order, -5, 102.0),
            OrderedJob("d5", self.order, 5, 103.0),
            OrderedJob("e0", self.order, 0, 104.0),
        ]
        self.assertEqual(self.order_of(*jobs), ["b5", "d5", "a0", "e0", "c-5"])

    def test_a_low_one_that_waited_long_goes_before_a_newer_higher_one(self):
        aged = scheduling.AGING * 10  # ten steps of priority
        jobs = [
            OrderedJob("old-low", self.order, 0, 100.0),
            OrderedJob("new-high", self.order, 5, 100.0 + aged),
        ]
        self.assertEqual(self.order_of(*jobs), ["old-low", "new-high"])

    def test_without_priorities_in_arrival_order(self):
        jobs = [OrderedJob(name, self.order, 0, created) for name, created in (("x", 3.0), ("y", 1.0), ("z", 2.0))]
        self.assertEqual(self.order_of(*jobs), ["x", "y", "z"])


class TestDatabaseQueue(JobTestCase):
    """The jobs queued in the database for any instance (a front-end's starts): by priority, then claimed in order."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        MAINTENANCE.claimer = None  # nobody claims until the test says so

    def start(self, priority):
        return self.browser.start(self.url("later"), priority=priority)

    def test_a_higher_one_starts_first_and_n_ahead_counts_what_starts_before_it(self):
        setting(self, "job-threads", 0)  # a front-end: the jobs wait in the database
        ids = {name: self.start(priority) for name, priority in (("a0", 0), ("b5", 5), ("c-5", -5), ("d5", 5), ("e0", 0))}
        names = {pid: name for name, pid in ids.items()}
        transaction.begin()
        waiting = [names[record.process_id] for record in registry.unclaimed(self.app._p_jar.root())]
        self.assertEqual(waiting, ["b5", "d5", "a0", "e0", "c-5"])
        for ahead, name in enumerate(waiting):
            answer = self.browser.poll(self.url("later"), ids[name])
            self.assertEqual(answer["queue_position"], ahead, name)
            self.assertEqual(answer["priority"], int(name[1:]))
        self.assertEqual(self.browser.poll(self.url("later"), ids["c-5"])["progress_message"], "Waiting to start (4 ahead)")
        # A worker with one thread claims them: they run in that order.
        setting(self, "job-threads", 1)
        MAINTENANCE.claimer = claims.claim_queued
        MAINTENANCE.watch(self.app._p_jar.db())
        for pid in ids.values():
            self.assertEqual(self.browser.wait_for(self.url("later"), pid)["state"], "done")
        ran = [names[pid] for pid, _at in LATER_RUNS if pid in names]
        self.assertEqual(ran, ["b5", "d5", "a0", "e0", "c-5"])

    def test_a_cancelled_prioritized_job_leaves_the_queue_and_its_count(self):
        setting(self, "job-threads", 0)
        root = self.app._p_jar.root()
        transaction.begin()
        before = registry.unclaimed_count(root)[0]
        process_id = self.start(7)
        self.assertEqual(self.fresh_record(process_id).priority, 7)
        self.assertEqual(registry.unclaimed_count(self.app._p_jar.root())[0], before + 1)
        self.browser.open(f"{self.url('later')}/processing?process_id={process_id}")
        db = self.app._p_jar.db()
        registry.change(db, process_id, registry.ProcessRecord.request_cancel)
        transaction.begin()
        root = self.app._p_jar.root()
        self.assertEqual(registry.unclaimed_count(root)[0], before)
        self.assertNotIn(process_id, [record.process_id for record in registry.unclaimed(root)])
        self.assertEqual(len(registry.stored(root).prioritized), 0)

    def test_out_of_range_is_an_error_for_the_integrator(self):
        self.browser.post(self.url("out-of-range-priority"), f"_authenticator={self.browser.token}")
        self.assertEqual(self.browser.status, 500)
        transaction.begin()
        store = registry.stored(self.app._p_jar.root())
        self.assertFalse(store is not None and any(r.view_name == "out-of-range-priority" for r in store.values()))

    def test_a_store_of_before_priorities_gets_its_tree_and_keeps_its_order(self):
        setting(self, "job-threads", 0)
        first, second = self.start(0), self.start(0)
        transaction.begin()
        root = self.app._p_jar.root()
        del registry.stored(root).prioritized  # a store of before priorities
        transaction.commit()
        self.assertEqual([r.process_id for r in registry.unclaimed(root) if r.process_id in (first, second)], [first, second])
        registry.in_own_transaction(self.app._p_jar.db(), registry.prepare)
        transaction.begin()
        root = self.app._p_jar.root()
        self.assertEqual(len(registry.stored(root).prioritized), 0)
        third = self.start(9)
        transaction.begin()
        mine = [r.process_id for r in registry.unclaimed(self.app._p_jar.root()) if r.process_id in (first, second, third)]
        self.assertEqual(mine, [third, first, second])
        for pid in (first, second, third):
            registry.change(self.app._p_jar.db(), pid, registry.ProcessRecord.request_cancel)


class TestInstanceQueue(JobTestCase):
    """An instance's own queue (the jobs it started and has no thread for yet): "N ahead" by rank too."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_n_ahead_counts_the_jobs_that_start_before_it_on_its_instance(self):
        setting(self, "job-threads", 1)
        setting(self, "max-per-user", 0)
        gate = new_gate(self)
        blocker = self.browser.start(self.url("gate"), gate=gate)
        wait_until(lambda: self.browser.poll(self.url("gate"), blocker)["state"] == "running", what="the blocker")
        ids = {name: self.browser.start(self.url("later"), priority=p) for name, p in (("a0", 0), ("b5", 5), ("c0", 0))}
        names = {pid: name for name, pid in ids.items()}
        positions = {name: self.browser.poll(self.url("later"), pid) for name, pid in ids.items()}
        self.assertEqual({name: answer["queue_position"] for name, answer in positions.items()}, {"b5": 0, "a0": 1, "c0": 2})
        self.assertEqual(positions["a0"]["progress_message"], "Waiting to start (1 ahead)")
        GATES[gate].set()
        for pid in ids.values():
            self.assertEqual(self.browser.wait_for(self.url("later"), pid)["state"], "done")
        self.assertEqual([names[pid] for pid, _at in LATER_RUNS if pid in names], ["b5", "a0", "c0"])


class TestRank(unittest.TestCase):
    def test_a_step_of_priority_is_worth_aging_seconds_of_waiting(self):
        self.assertEqual(scheduling.rank(1000.0, 0), 1000.0)
        self.assertEqual(scheduling.rank(1000.0, 2), 1000.0 - 2 * scheduling.AGING)
