"""Two workers claim a front-end's jobs as soon as they are queued: each job runs once, none is lost, none waits for a timer.

One layer: a ZEO server, a front-end F (``pool-size 0``: its jobs wait in
the database, unclaimed) and two workers W1 and W2 (``pool-size 2``), all
real Zope instances (``runwsgi``, tests/instances.py), with the Zope
root's Manager and no Plone site (the job is a view of any context). The
timed claim pass is put 10 s apart (``claim-interval``): a job that
started within a second or two was claimed because the worker saw it
queued (it watches the count of unclaimed jobs) or because one of its
threads ended a job, never by the timer. The job, ``ran-once``
(tests/ran_once.py), appends its process id to ``var/ran-jobs`` of the
instance that runs it: every run of every job is counted there.

Measured figures are printed (stderr) as the tests run.
"""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from plone.testing import Layer
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import Instance
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MANAGER
from netsight.asynchronous.tests.helpers.instances import START_TIMEOUT
from netsight.asynchronous.tests.helpers.instances import wait_until
from netsight.asynchronous.tests.helpers.ran_once import RAN_JOBS

import statistics
import sys
import threading
import time
import unittest


POOL_SIZE = 2
CLAIM_INTERVAL = 10  # seconds: the timed pass, far beyond what any job here may wait
CONFIG = {"claim-interval": str(CLAIM_INTERVAL), "queue-limit": "0"}  # a thousand wait whole
ZCML = Instance.TEST_VIEWS + '\n<include package="netsight.asynchronous.tests.helpers" file="ran_once.zcml" />'
JOBS = 1000
CLIENTS = 8  # that start them on F
DRAIN_DEADLINE = 90  # seconds from the first start to the last job done (the timer alone: 250 s at least)
PICKUPS = 10
PICKUP_DEADLINE = 2.0  # seconds from a start's answer to its job's run (the timer: up to 10 s)
ADD_MANAGER = """
import transaction
name, password = {manager!r}
if app.acl_users.getUserById(name) is None:
    app.acl_users.userFolderAddUser(name, password, ["Manager"], [])
transaction.commit()
print("added")
"""


def report(text):
    """A measured figure, in the test run's output."""
    print(f"\n    [{text}]", file=sys.stderr)


class FrontEndAndTwoWorkersLayer(Layer):
    """A ZEO server, the front-end F and the workers W1 and W2; the root's Manager."""

    def setUp(self):
        self.cluster = Cluster("netsight-async-claims")
        zeo = self.cluster.zeo_server()
        zeo.start()
        f = self.cluster.instance(zeo=zeo, zcml=ZCML, product_config={**CONFIG, "pool-size": "0"})
        workers = [
            self.cluster.instance(zeo=zeo, zcml=ZCML, product_config={**CONFIG, "pool-size": str(POOL_SIZE)})
            for _ in range(2)
        ]
        f.run_script(ADD_MANAGER.format(manager=MANAGER))  # zconsole run, on the ZEO server
        for instance in (f, *workers):  # side by side, each loading Plone's ZCML; from this thread
            instance.process.start()  # (a child dies with the thread that started it)
        for instance in (f, *workers):
            wait_until(instance._started, START_TIMEOUT, instance.what, instance.log_tail)
        self["zeo"], self["f"], self["workers"] = zeo, f, workers

    def tearDown(self):
        self.cluster.close()
        del self["zeo"], self["f"], self["workers"]


FRONT_END_AND_TWO_WORKERS = FrontEndAndTwoWorkersLayer(name="NetsightAsync:ClaimsCluster")


class TestClaims(unittest.TestCase):
    layer = FRONT_END_AND_TWO_WORKERS

    def setUp(self):
        self.f, self.workers = self.layer["f"], self.layer["workers"]
        self.local = threading.local()

    def client(self):
        """This thread's Manager client, with its CSRF token (None where the root has none)."""
        if getattr(self.local, "client", None) is None:
            self.local.client = Client(*MANAGER)
            self.local.token = self.local.client.token(f"{self.f.url}/@@own-template")
        return self.local.client

    def start(self):
        """POST ``ran-once`` to F's root: the process id of its 303."""
        client = self.client()
        form = {} if self.local.token is None else {"_authenticator": self.local.token}
        response = client.post(f"{self.f.url}/@@ran-once", form)
        self.assertEqual(response.status, 303, response.text[:500])
        (process_id,) = parse_qs(urlsplit(response.location).query)["process_id"]
        return process_id

    def state(self, process_id):
        """The job's state, as its processing page's poll (on F) says it."""
        response = self.client().get(f"{self.f.url}/@@ran-once/completed?process_id={process_id}&output_json=1")
        self.assertEqual(response.status, 200, response.text[:500])
        return response.json()["state"]

    def runs(self):
        """Every run noted so far: ``(Counter of process ids, {worker: how many it ran})``."""
        counted, shares = Counter(), {}
        for worker in self.workers:
            path = worker.directory / RAN_JOBS
            lines = path.read_text().split() if path.exists() else []
            counted.update(lines)
            shares[worker.url] = len(lines)
        return counted, shares

    def wait_for_a_run(self, before, since):
        """Seconds from ``since`` to a run noted beyond the ``before`` there were (looked for every 2 ms)."""
        deadline = since + PICKUP_DEADLINE
        while sum(self.runs()[0].values()) <= before:
            if time.monotonic() > deadline:
                raise AssertionError(f"the job did not run within {PICKUP_DEADLINE} s (claim-interval is 10 s)")
            time.sleep(0.002)
        return time.monotonic() - since

    def test_a_thousand_jobs_of_a_front_end_run_once_each_on_two_workers(self):
        before, shares_before = self.runs()
        with logs_on_failure(self.f, *self.workers):
            began = time.monotonic()
            with ThreadPoolExecutor(CLIENTS) as clients:  # both workers claim while F queues
                started = list(clients.map(lambda _number: self.start(), range(JOBS)))
            queued = time.monotonic() - began
            self.assertEqual(len(set(started)), JOBS)
            wait_until(
                lambda: sum(self.runs()[0].values()) - sum(before.values()) >= JOBS,
                DRAIN_DEADLINE - queued,
                f"the {JOBS} jobs to run",
                lambda: f"{sum(self.runs()[0].values()) - sum(before.values())} runs noted",
            )
            ran = time.monotonic() - began
            with ThreadPoolExecutor(4) as pollers:
                states = Counter(pollers.map(self.state, started))
        counted, shares = self.runs()
        shares = {worker: ran - shares_before[worker] for worker, ran in shares.items()}
        runs = Counter({pid: counted[pid] - before[pid] for pid in counted if counted[pid] > before[pid]})
        self.assertEqual(set(runs), set(started))  # none lost, none run that was not started
        self.assertEqual([pid for pid, times in runs.items() if times != 1], [])  # none run twice
        self.assertEqual(states, Counter({registry.DONE: JOBS}))  # as their pages say
        report(
            f"{JOBS} jobs started on F in {queued:.1f} s, all run once in {ran:.1f} s "
            f"({JOBS / ran:.0f} jobs/s); runs per worker: {sorted(shares.values())}"
        )

    def test_an_idle_worker_runs_a_front_ends_job_at_once(self):
        waits = []
        with logs_on_failure(self.f, *self.workers):
            for _ in range(PICKUPS):
                before = sum(self.runs()[0].values())
                process_id = self.start()
                answered = time.monotonic()
                waits.append(self.wait_for_a_run(before, answered))
                wait_until(lambda pid=process_id: self.state(pid) == registry.DONE, PICKUP_DEADLINE, "the job done")
        report(f"a front-end's job ran {statistics.median(waits) * 1000:.0f} ms after its start answered "
               f"(median of {PICKUPS}; the longest {max(waits) * 1000:.0f} ms)")
