"""Start later on a cluster: scheduled jobs survive a restart of every instance and run once, at their time.

Two worker instances A and B of one ZEO server. A Member starts two jobs
of the view ``later`` on A: one due a few seconds ahead, one due once the
cluster is back. Both instances are stopped (SIGTERM) while both jobs are
still scheduled; the ZEO server keeps running. The first job's time comes
while no instance runs: nothing runs it, it stays scheduled. Both
instances start again: the restarted cluster runs the overdue job at once
and the other one at its time, each once, never before its time.
"""

from urllib.parse import parse_qs
from urllib.parse import urlsplit

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import wait_until
from netsight.asynchronous.tests.helpers.twoworkers import ClusterTestCase
from netsight.asynchronous.tests.helpers.twoworkers import SITE_PATH
from netsight.asynchronous.tests.helpers.twoworkers import TwoWorkersLayer

import time


SOON = 8  # seconds: due while every instance is stopped
LATER = 75  # seconds: due once the cluster is back (two instance starts take far less on two cores)
FIELDS = ("state", "instance", "run_after", "started", "finished", "run")


TWO_WORKERS = TwoWorkersLayer("netsight-async-scheduled", name="NetsightAsync:ScheduledTwoWorkers")


class TestScheduledOnACluster(ClusterTestCase):
    layer = TWO_WORKERS

    def setUp(self):
        super().setUp()
        self.member = Client(*MEMBER)

    def record(self, process_id):
        """What the database holds of ``process_id`` now: a dict of its fields, or None."""
        with self.database_now() as connection:
            record = registry.find(connection, process_id)
            return None if record is None else {name: getattr(record, name) for name in FIELDS}

    def schedule(self, instance, token, seconds):
        """Start ``later`` on ``instance``, due ``seconds`` from now: its process id."""
        started = self.member.post(
            f"{instance.url}{SITE_PATH}/@@later", {"_authenticator": token, "seconds": str(seconds)}
        )
        self.assertEqual(started.status, 303, started.text[:500])
        (process_id,) = parse_qs(urlsplit(started.location).query)["process_id"]
        return process_id

    def wait_done(self, process_id, what):
        return wait_until(
            lambda: (record := self.record(process_id)) and record["state"] == registry.DONE and record,
            timeout=90,
            what=what,
        )

    def test_scheduled_jobs_survive_a_restart_of_every_instance_and_run_once_at_their_time(self):
        a, b = self.layer["a"], self.layer["b"]
        with logs_on_failure(a, b):
            token = self.member.token(f"{a.url}{SITE_PATH}/@@own-template")
            soon, later = self.schedule(a, token, SOON), self.schedule(a, token, LATER)
            page = self.member.get(f"{a.url}{SITE_PATH}/@@later/processing?process_id={soon}")
            self.assertEqual(page.status, 200)
            self.assertIn("Scheduled for", page.text)
            for instance in (a, b):
                instance.stop()
            self.addCleanup(lambda: [i.start() for i in (a, b) if not i.running])  # the layer's, for what runs next
            due = self.record(soon)["run_after"]
            self.assertLess(time.time(), due, "the instances stopped after the first job was due")
            for pid in (soon, later):  # the stopping instances marked nothing of them
                self.assertEqual(self.record(pid)["state"], registry.SCHEDULED, pid)
            # Its time comes while no instance runs: nobody queues it.
            wait_until(lambda: time.time() > due + 1, timeout=SOON + 5, what="the first job's time, cluster down")
            self.assertEqual(self.record(soon)["state"], registry.SCHEDULED)
            back = time.time()
            for instance in (a, b):
                instance.start()
            self.assertLess(time.time(), self.record(later)["run_after"], "the cluster came back after the second job was due")
            first = self.wait_done(soon, "the overdue job to run on the restarted cluster")
            self.assertGreaterEqual(first["started"], back)  # run by the restarted cluster
            second = self.wait_done(later, "the second job to run at its time")
            for record in (first, second):
                self.assertEqual(record["run"], 1)  # once
                self.assertGreaterEqual(record["started"], record["run_after"])  # never before its time
            self.assertLess(second["started"] - second["run_after"], 2.0)  # a worker takes it within about a second
            for pid in (soon, later):
                answer = self.member.get(f"{b.url}{SITE_PATH}/@@later/result?process_id={pid}")
                self.assertEqual(answer.status, 200, answer.text[:500])
                self.assertEqual(answer.text, f"Ran {pid}")
            print(
                f"\n    [scheduled on a cluster: the overdue one started {first['started'] - back:.2f} s after the "
                f"restart, the other {second['started'] - second['run_after']:.2f} s after its time]",
                end=" ",
            )
