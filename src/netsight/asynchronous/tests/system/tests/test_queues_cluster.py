"""Named queues on a cluster: a job of a queue that no live instance serves waits, and starts when a worker of it comes up.

One layer: a ZEO server, a front-end F (``job-threads 0``) and a worker
W1 that serves the default queue only (``queues default``), real Zope
instances with the Zope root's Manager and no Plone site (the jobs are
views of any context). The test starts a job of "exports" on F: W1
leaves it in the database (a job of the default queue started after it
runs on W1 meanwhile), and F's processing page says that it waits for a
worker of 'exports'. Then a worker W2 of "exports" (``queues exports``)
starts: it claims the job, which runs there, once.
"""

from plone.testing import Layer
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import HOST
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MANAGER
from netsight.asynchronous.tests.helpers.instances import START_TIMEOUT
from netsight.asynchronous.tests.helpers.instances import wait_until

import time
import transaction
import unittest
import ZEO


CONFIG = {"heartbeat-interval": "0.5", "heartbeat-timeout": "6"}
DEADLINE = 30  # seconds for a job to run, once a worker of its queue is up
ADD_MANAGER = """
import transaction
name, password = {manager!r}
if app.acl_users.getUserById(name) is None:
    app.acl_users.userFolderAddUser(name, password, ["Manager"], [])
transaction.commit()
print("added")
"""


class FrontEndAndDefaultWorkerLayer(Layer):
    """A ZEO server, the front-end F and the worker W1 of the default queue; the root's Manager."""

    def setUp(self):
        self.cluster = Cluster("netsight-async-queues")
        zeo = self.cluster.zeo_server()
        zeo.start()
        f = self.cluster.instance(zeo=zeo, product_config={**CONFIG, "job-threads": "0"})
        w1 = self.cluster.instance(zeo=zeo, product_config={**CONFIG, "job-threads": "2", "queues": "default"})
        f.run_script(ADD_MANAGER.format(manager=MANAGER))
        for instance in (f, w1):  # side by side, each loading Plone's ZCML
            instance.process.start()
        for instance in (f, w1):
            wait_until(instance._started, START_TIMEOUT, instance.what, instance.log_tail)
        self["cluster"], self["zeo"], self["f"], self["w1"] = self.cluster, zeo, f, w1

    def tearDown(self):
        self.cluster.close()
        del self["cluster"], self["zeo"], self["f"], self["w1"]


FRONT_END_AND_DEFAULT_WORKER = FrontEndAndDefaultWorkerLayer(name="NetsightAsync:QueuesCluster")


class TestQueuesOnACluster(unittest.TestCase):
    layer = FRONT_END_AND_DEFAULT_WORKER

    def setUp(self):
        self.f, self.w1 = self.layer["f"], self.layer["w1"]
        self.client = Client(*MANAGER)
        self.token = self.client.token(f"{self.f.url}/@@own-template")
        zeo = self.layer["zeo"]
        self.db = ZEO.DB((HOST, zeo.port), blob_dir=str(zeo.directory / "test-client-blobs"), shared_blob_dir=False)
        self.addCleanup(self.db.close)

    def start(self, view):
        """POST ``view`` to F's root: the process id of its 303."""
        form = {} if self.token is None else {"_authenticator": self.token}
        response = self.client.post(f"{self.f.url}/@@{view}", form)
        self.assertEqual(response.status, 303, response.text[:500])
        (process_id,) = parse_qs(urlsplit(response.location).query)["process_id"]
        return process_id

    def status(self, view, process_id):
        """The JSON of the job's processing page's poll, on F."""
        response = self.client.get(f"{self.f.url}/@@{view}/completed?process_id={process_id}&output_json=1")
        self.assertEqual(response.status, 200, response.text[:500])
        return response.json()

    def record(self, process_id):
        """``(state, instance, run)`` of the job's record, as the database holds it now."""
        manager = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        try:
            manager.begin()
            record = registry.stored(connection.root())[process_id]
            return record.state, record.instance, record.run
        finally:
            manager.abort()
            connection.close()

    def test_a_queue_without_a_worker_waits_and_starts_when_one_comes(self):
        w2 = None
        with logs_on_failure(self.f, self.w1):
            export = self.start("export")
            # W1 serves the default queue: a job of it started after the export runs there meanwhile.
            hello = self.start("hello")
            wait_until(lambda: self.status("hello", hello)["state"] == registry.DONE, DEADLINE, "the default queue's job done")
            self.assertEqual(self.record(hello)[1].split(":")[1], str(self.w1.pid))
            self.assertEqual(self.record(export), (registry.QUEUED, registry.UNCLAIMED, 0))
            answer = self.status("export", export)
            self.assertEqual((answer["state"], answer["queue"], answer["queue_served"]), ("queued", "exports", False))
            self.assertEqual(answer["progress_message"], "Waiting for a worker of 'exports'")
            page = self.client.get(f"{self.f.url}/@@export/processing?process_id={export}")
            self.assertIn("Waiting for a worker of", page.text)
            self.assertIn("exports", page.text)
            # A worker of "exports" comes up: it claims the job, which runs there, once.
            w2 = self.layer["cluster"].instance(
                zeo=self.layer["zeo"], product_config={**CONFIG, "job-threads": "1", "queues": "exports"}
            )
            self.addCleanup(w2.stop)  # it says it stopped: a repeat of the test finds no worker of "exports"
            started = time.monotonic()
            w2.start()
        with logs_on_failure(self.f, self.w1, w2):
            wait_until(lambda: self.status("export", export)["state"] == registry.DONE, DEADLINE, "the export done")
            state, instance, run = self.record(export)
            self.assertEqual((state, instance.split(":")[1], run), (registry.DONE, str(w2.pid), 1))
            print(f"\n    [a job of 'exports' ran {time.monotonic() - started:.1f} s after its worker began to start]")
