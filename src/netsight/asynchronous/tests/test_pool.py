"""The pool with jobs of several sites: a site's share holds its jobs, the others go ahead."""

from netsight.asynchronous.pool import Pool
from netsight.asynchronous.tests.base import setting
from netsight.asynchronous.tests.base import wait_until

import threading
import unittest


class GatedJob:
    """A job that runs until its gate opens (what the pool asks of a job, no more)."""

    def __init__(self, process_id, site, site_cap=None, owner="someone"):
        self.process_id, self.site, self.site_cap, self.owner = process_id, site, site_cap, owner
        self.started = threading.Event()
        self.gate = threading.Event()

    def run(self):
        self.started.set()
        self.gate.wait(60)

    def discard(self, error=None):
        pass


class TestSitesShare(unittest.TestCase):
    def setUp(self):
        setting(self, "pool-size", 3)
        self.pool = Pool()

    def run_all(self, *jobs):
        self.addCleanup(lambda: wait_until(lambda: self.pool.counts() == (0, 0, 0), what="the pool to be idle"))
        for job in jobs:
            self.addCleanup(job.gate.set)
            self.pool.submit(job)

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
