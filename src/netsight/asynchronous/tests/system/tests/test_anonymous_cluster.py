"""Anonymous visitors' caps across a cluster: two front-ends and a worker on one ZEO server.

One layer for the module: a ZEO server, the Plone site /plone, front-ends
F and G (``pool-size 0``) and a worker W (``pool-size 2``, so its
anonymous share is 1 thread), all behind a "proxy" at 127.0.0.1
(``trusted-proxies``; waitress told to pass ``X-Forwarded-For`` on, which
it drops by default), so that each client's address is the one its
``X-Forwarded-For`` names; ``max-per-address 1``. Visitors are cookie-less
clients (urllib), as in the issue.
"""

from plone.testing import Layer
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import wait_until

import json
import unittest


SITE_PATH = "/plone"
CONFIG = {
    "heartbeat-interval": "0.5",
    "heartbeat-timeout": "10",
    "trusted-proxies": "127.0.0.1",
    "max-per-address": "1",
}
DEADLINE = 90  # seconds: jobs of a few seconds, on a shared machine
JOB = {"steps": "1", "numeric": "0"}  # steady: it only waits ``delay`` seconds, twice
ENDED = frozenset({registry.DONE, registry.FAILED, registry.CANCELLED, registry.INTERRUPTED, "unknown"})

RECORD_SCRIPT = """
import json, os
from netsight.asynchronous import registry
params = json.loads(os.environ["NETSIGHT_ASYNC_SCRIPT"])
record = registry.find(app._p_jar, params["process_id"])
print(json.dumps({"state": record.state, "request": record.request is not None, "address_key": record.address_key}))
"""
PACK_SCRIPT = """
app._p_jar.db().pack()
print("packed")
"""


class FrontEndsAndWorkerLayer(Layer):
    def setUp(self):
        self.cluster = Cluster("netsight-async-anonymous")
        zeo = self.cluster.zeo_server()
        zeo.start()
        f, g = (self.cluster.instance(zeo=zeo, product_config={**CONFIG, "pool-size": "0"}) for _ in range(2))
        w = self.cluster.instance(zeo=zeo, product_config={**CONFIG, "pool-size": "2"})
        for instance in (f, g, w):  # waitress passes X-Forwarded-For on, for trusted-proxies to judge
            ini = instance.zope_ini.read_text()
            instance.zope_ini.write_text(ini.replace("[server:main]\n", "[server:main]\nclear_untrusted_proxy_headers = false\n"))
        f.create_site(SITE_PATH)
        for instance in (f, g, w):
            instance.start()
        self["zeo"], self["f"], self["g"], self["w"] = zeo, f, g, w

    def tearDown(self):
        self.cluster.close()
        del self["zeo"], self["f"], self["g"], self["w"]


FRONT_ENDS_AND_WORKER = FrontEndsAndWorkerLayer(name="NetsightAsync:AnonymousCluster")


class TestAnonymousCluster(unittest.TestCase):
    layer = FRONT_ENDS_AND_WORKER

    def setUp(self):
        self.zeo, self.f, self.g, self.w = (self.layer[name] for name in ("zeo", "f", "g", "w"))
        self.started = {}  # process id -> the client that may watch it
        self.addCleanup(self.wait_all_ended)  # the next test starts with an idle worker

    def visit(self, instance, address, expect=303, delay="4", **form):
        """A cookie-less anonymous start on ``instance`` from ``address`` (X-Forwarded-For)."""
        client = Client()
        body = urlencode({**JOB, "delay": delay, **form}).encode("ascii")
        response = client.post(
            f"{instance.url}{SITE_PATH}/@@steady",
            body,
            headers={"X-Forwarded-For": address, "Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(response.status, expect, response.text[:300])
        if expect != 303:
            self.assertEqual(response.headers["Retry-After"], "30")
            return None
        return self.started_id(client, response)

    def member_start(self, instance, delay="4"):
        client = Client(*MEMBER)
        site_url = instance.url + SITE_PATH
        form = {**JOB, "delay": delay, "_authenticator": client.token(f"{site_url}/@@own-template")}
        response = client.post(f"{site_url}/@@steady", form)
        self.assertEqual(response.status, 303, response.text[:300])
        return self.started_id(client, response)

    def started_id(self, client, response):
        (process_id,) = parse_qs(urlsplit(response.location).query)["process_id"]
        self.started[process_id] = client
        return process_id

    def state(self, process_id, instance=None):
        """The process's state as its owner reads it (``completed``, on F by default)."""
        instance = instance or self.f
        url = f"{instance.url}{SITE_PATH}/@@steady/completed?output_json=1&process_id={process_id}"
        response = self.started[process_id].get(url)
        return response.json()["state"] if response.status in (200, 404) else response.status

    def record(self, process_id):
        """What the record holds, read by a zconsole script (a ZEO client of its own)."""
        return json.loads(self.f.run_script(RECORD_SCRIPT, process_id=process_id).strip().splitlines()[-1])

    def wait_all_ended(self):
        for process_id in self.started:
            wait_until(lambda pid=process_id: self.state(pid) in ENDED, DEADLINE, f"{process_id} to end")

    def test_an_address_at_its_cap_on_one_front_end_is_refused_on_the_other(self):
        with logs_on_failure(self.f, self.g, self.w):
            self.visit(self.f, "198.51.100.1", delay="6")
            self.visit(self.g, "198.51.100.1", expect=503)  # the cap counts the cluster's records
            self.visit(self.g, "203.0.113.9, 198.51.100.1", expect=503)  # a made-up left part changes nothing
            self.visit(self.g, "198.51.100.2")

    def test_a_worker_runs_anonymous_jobs_on_its_share_and_a_members_on_the_rest(self):
        with logs_on_failure(self.f, self.g, self.w):
            first = self.visit(self.f, "198.51.100.11", delay="8")  # 16 s: it waits twice
            wait_until(lambda: self.state(first) == registry.RUNNING, DEADLINE, "the first visitor's job on W")
            second = self.visit(self.g, "198.51.100.12", delay="1")
            member = self.member_start(self.f, delay="1")
            wait_until(lambda: self.state(member) in ENDED, DEADLINE, "the member's job, on W's other thread")
            self.assertEqual(self.state(member), registry.DONE)
            self.assertEqual(self.state(second), registry.QUEUED)  # W's anonymous thread is the first's
            self.assertEqual(self.state(first), registry.RUNNING)
            wait_until(lambda: self.state(second) == registry.DONE, DEADLINE, "the second visitor's job, after")

    def test_a_front_ends_stored_request_and_its_blob_go_when_the_job_ended(self):
        with logs_on_failure(self.f, self.g, self.w):
            before = self.blob_files()
            process_id = self.visit(self.f, "198.51.100.21", delay="0", padding="x" * (1 << 19))
            wait_until(lambda: self.state(process_id) == registry.DONE, DEADLINE, "the job on W")
            record = self.record(process_id)
            self.assertEqual((record["request"], record["address_key"]), (False, None))
            self.assertTrue(self.blob_files() - before)  # the body's blob, until a pack
            self.f.run_script(PACK_SCRIPT)
            self.assertEqual(self.blob_files() - before, set())

    def blob_files(self):
        return set(self.zeo.blob_dir().rglob("*.blob"))
