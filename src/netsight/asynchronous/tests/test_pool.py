"""The pool with jobs of several sites, and of anonymous visitors: a share holds its jobs, the others go ahead."""

from netsight.asynchronous.limits import JobLimits
from netsight.asynchronous.pool import Pool
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until

import threading
import unittest


class GatedJob:
    """A job that runs until its gate opens (what the pool asks of a job, no more)."""

    def __init__(self, process_id, site, site_cap=None, owner="someone", address=None):
        self.process_id = process_id
        self.limits = JobLimits(owner, site, site_job_threads=site_cap, address=address)  # address: an anonymous visitor's
        self.started = threading.Event()
        self.gate = threading.Event()

    def run(self):
        self.started.set()
        self.gate.wait(60)

    def discard(self, error=None):
        pass


class PoolTestCase(unittest.TestCase):
    """A pool of 3 threads of its own, and jobs that run until their gates open."""

    def setUp(self):
        setting(self, "pool-size", 3)
        self.pool = Pool()

    def run_all(self, *jobs):
        self.addCleanup(lambda: wait_until(lambda: self.pool.counts() == (0, 0, 0), what="the pool to be idle"))
        for job in jobs:
            self.addCleanup(job.gate.set)
            self.pool.submit(job)


class TestSitesShare(PoolTestCase):

    def test_a_sites_second_job_waits_while_another_sites_job_goes_ahead(self):
        first, second = GatedJob("a1", "/a", site_cap=1), GatedJob("a2", "/a", site_cap=1)
        other = GatedJob("b1", "/b")
        self.run_all(first, second, other)
        self.assertTrue(first.started.wait(60))
        self.assertTrue(other.started.wait(60))
        self.assertEqual(self.pool.counts(), (2, 1, 2))  # running, queued, threads
        self.assertFalse(second.started.is_set())
        self.assertEqual(self.pool.waiting("someone else", "/a"), 1)  # a new job of /a would wait behind it
        self.assertEqual(self.pool.waiting("someone else"), 0)  # one of another site would not
        first.gate.set()
        self.assertTrue(second.started.wait(60))  # its site's place is free again

    def test_without_a_share_a_site_takes_the_whole_pool(self):
        jobs = [GatedJob(f"a{number}", "/a") for number in range(3)]
        self.run_all(*jobs)
        for job in jobs:
            self.assertTrue(job.started.wait(60))
        self.assertEqual(self.pool.counts(), (3, 0, 3))


class TestAnonymousShare(PoolTestCase):
    def test_anonymous_jobs_run_on_their_share_of_threads_while_a_users_job_goes_ahead(self):
        setting(self, "anonymous-pool-size", 1)
        setting(self, "max-per-address", 0)
        visitors = [GatedJob(f"v{number}", "/a", owner=f"anonymous:{number}", address=f"address {number}")
                    for number in range(3)]
        member = GatedJob("m1", "/a", owner="member")
        self.run_all(*visitors, member)
        self.assertTrue(visitors[0].started.wait(60))
        self.assertTrue(member.started.wait(60))
        self.assertEqual(self.pool.counts(), (2, 2, 2))  # a thread is free, but not for visitors
        self.assertEqual(self.pool.anonymous_queued(), 2)
        self.assertEqual(self.pool.room(), 1)  # the held visitors do not wait for a thread
        self.assertFalse(self.pool.admits(JobLimits("anonymous:9", "/a", address="address 9")))
        self.assertTrue(self.pool.admits(JobLimits("member 2", "/a")))
        visitors[0].gate.set()
        self.assertTrue(visitors[1].started.wait(60))  # the share's place is free again
        self.assertFalse(visitors[2].started.is_set())

    def test_room_counts_the_jobs_that_wait_for_a_thread_not_those_a_cap_holds(self):
        setting(self, "anonymous-pool-size", 1)
        setting(self, "max-per-address", 0)
        visitors = [GatedJob(f"v{number}", "/a", owner=f"anonymous:{number}", address=f"address {number}")
                    for number in range(3)]
        members = [GatedJob(f"m{number}", "/a", owner=f"member {number}") for number in range(6)]
        self.run_all(*visitors, *members)
        for job in (visitors[0], members[0], members[1]):
            self.assertTrue(job.started.wait(60))
        self.assertEqual(self.pool.counts(), (3, 6, 3))  # queued: two visitors held by their share, four members
        self.assertEqual(self.pool.room(), 0)
        self.assertEqual(self.pool.room(ahead=2), 0)  # the four members fill what a claim may take ahead
        self.assertEqual(self.pool.room(ahead=5), 1)
        self.assertEqual(self.pool.room(ahead=8), 4)  # the held visitors take no place
        members[0].gate.set()
        self.assertTrue(members[2].started.wait(60))  # a member first: the visitors wait for their share
        self.assertEqual(self.pool.room(ahead=8), 5)

    def test_the_default_share_is_half_the_pool_at_least_one(self):
        visitors = [GatedJob(f"v{number}", "/a", owner=f"anonymous:{number}", address=f"address {number}")
                    for number in range(3)]
        self.run_all(*visitors)
        self.assertTrue(visitors[0].started.wait(60))
        self.assertEqual(self.pool.counts(), (1, 2, 1))  # pool-size 3: one for visitors

    def test_an_address_at_its_cap_is_not_admitted(self):
        setting(self, "max-per-address", 1)
        first = GatedJob("v1", "/a", owner="anonymous:1", address="here")
        self.run_all(first)
        self.assertTrue(first.started.wait(60))
        self.assertFalse(self.pool.admits(JobLimits("anonymous:2", "/a", address="here")))
        setting(self, "anonymous-pool-size", 2)
        self.assertTrue(self.pool.admits(JobLimits("anonymous:3", "/a", address="there")))
        self.assertFalse(
            self.pool.admits(JobLimits("anonymous:3", "/a", address="there"), taking=[JobLimits("anonymous:4", "/a", address="there")])
        )
