"""Uninstall in a real instance, then Zope without the package; and a Zope start writes nothing where no site uses the add-on.

A real instance on a FileStorage: a site installs the add-on, runs jobs in
every state (done with a blob result unfetched, failed, cancelled, running,
queued) and uninstalls it from the Add-ons control panel (HTTP). The
instance stops; Zope then starts (``zconsole run``) in a process that
cannot import netsight.async (its import finders and its distribution's
metadata hidden, no ZCML of it): every object reachable from the root
loads without a missing class, the root has no key of the add-on, the
personal menu no "My processes", and once packed the blob's file is gone.

And: Zope starting and stopping with the package present, on a database
whose site never installed it, commits nothing (the storage's last
transaction stays the same). And the Zope root's Manager's command,
``python -m netsight.asynchronous.removal etc/zope.conf``, removes every
site's processes.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.instances import _child_env
from netsight.asynchronous.tests.helpers.instances import BIN
from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MANAGER
from netsight.asynchronous.tests.helpers.instances import SCRIPT_TIMEOUT
from netsight.asynchronous.tests.helpers.instances import wait_until
from urllib.parse import parse_qs
from urllib.parse import urlparse
from ZODB import DB
from ZODB.FileStorage import FileStorage

import json
import subprocess
import sys
import textwrap
import time
import unittest


SITE = "/plone"
BIG = 1024 * 1024  # bytes: a result kept in a blob
WATCH = 3.0  # seconds an idle instance is watched for writes (heartbeat 0.2 s, housekeeping 0.5 s, claims 0.1 s)
FAST = {"heartbeat-interval": "0.2", "housekeeping-interval": "0.5", "claim-interval": "0.1"}

# Run first in the process that must not have the package: its editable
# install's import finders go, and its distribution's metadata is hidden
# from importlib.metadata (plone.autoinclude would include its ZCML).
HIDE_PACKAGE = """
import importlib.machinery
import sys

def ours(obj):
    return getattr(obj, "__module__", "").startswith("__editable___netsight")

sys.meta_path[:] = [finder for finder in sys.meta_path if not ours(finder)]
sys.path_hooks[:] = [hook for hook in sys.path_hooks if not ours(hook)]
sys.path[:] = [entry for entry in sys.path if "__editable__" not in entry]
sys.path_importer_cache.clear()

class WithoutNetsight(importlib.machinery.PathFinder):
    @classmethod
    def find_distributions(cls, *args, **kwargs):
        for dist in importlib.machinery.PathFinder.find_distributions(*args, **kwargs):
            name = (dist.metadata["Name"] or "").lower().replace("_", ".").replace("-", ".")
            if not name.startswith("netsight"):
                yield dist

sys.meta_path[:] = [WithoutNetsight if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
assert importlib.util.find_spec("netsight") is None, "netsight is still importable"

from Zope2.utilities.zconsole import main
main(["zconsole", "run", *sys.argv[1:]])
"""

# Run by zconsole without the package: what is left of it, as JSON on the last line.
INSPECT = """
import importlib
import io
import json
import pickletools
import sys
from ZODB.serialize import referencesf
from ZODB.utils import z64

app = globals()["app"]
connection = app._p_jar
storage = connection.db().storage
site = app.unrestrictedTraverse("plone")


def globals_of(data):
    # The (module, name) of every class a record's two pickles name.
    found, strings, stream = [], [], io.BytesIO(data)
    while stream.tell() < len(data):
        for opcode, arg, _pos in pickletools.genops(stream):
            if opcode.name == "GLOBAL":
                found.append(tuple(arg.split(" ", 1)))
            elif opcode.name == "STACK_GLOBAL":
                found.append((strings[-2], strings[-1]))
            elif isinstance(arg, str):
                strings.append(arg)
    return found


def resolves(module, name):
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return False
    return True


missing, seen, todo = set(), set(), [z64]
while todo:
    oid = todo.pop()
    if oid in seen:
        continue
    seen.add(oid)
    data, _serial = storage.load(oid)
    for module, name in globals_of(data):
        if not resolves(module, name):
            missing.add(f"{module}.{name}")
    todo.extend(referencesf(data))

actions = site.portal_actions
result = {
    "objects": len(seen),
    "missing classes": sorted(missing),
    "root keys": sorted(key for key in connection.root().keys() if "netsight" in key),
    "modules": sorted(name for name in sys.modules if name.startswith("netsight")),
    "user actions": actions.user.objectIds(),
    "profile version": site.portal_setup.getLastVersionForProfile("netsight.async:default"),
    "zope root ids": app.objectIds(),
}
connection.db().pack()  # now: what nothing references goes, blobs' files with it
print(json.dumps(result))
"""

SITE_SHARE = """
from plone.registry.interfaces import IRegistry
from zope.component.hooks import setSite
import transaction

app = globals()["app"]
site = app.unrestrictedTraverse("plone")
setSite(site)
site.getSiteManager().getUtility(IRegistry)["netsight.async.pool_size"] = 1
transaction.commit()
app._p_jar.db().close()
"""

NOTHING = """
app = globals()["app"]
app._p_jar.db().close()
"""


def blob_files(instance):
    return sorted(path.name for path in (instance.var / "blobstorage" / "main").rglob("*.blob"))


def last_transaction(instance):
    storage = FileStorage(str(instance.storage_path()), read_only=True)
    try:
        return storage.lastTransaction()
    finally:
        storage.close()


def root_keys(instance):
    """The add-on's keys in the root of the instance's (stopped) database."""
    db = DB(FileStorage(str(instance.storage_path()), read_only=True))
    try:
        with db.transaction() as connection:
            return sorted(key for key in connection.root().keys() if "netsight" in key)
    finally:
        db.close()


class Jobs:
    """Starts and watches jobs of the site over HTTP, as the Zope root's Manager."""

    def __init__(self, instance):
        self.site = f"{instance.url}{SITE}"
        self.client = Client(*MANAGER)
        self.token = self.client.token(f"{self.site}/@@own-template")

    def start(self, view, **form):
        response = self.client.post(f"{self.site}/@@{view}", {**form, "_authenticator": self.token})
        assert response.status == 303, (response, response.text[:500])
        (process_id,) = parse_qs(urlparse(response.location).query)["process_id"]
        return view, process_id

    def answer(self, job):
        view, process_id = job
        return self.client.get(f"{self.site}/@@{view}/completed?output_json=1&process_id={process_id}")

    def state(self, job):
        response = self.answer(job)
        return response.json()["state"] if response.status in (200, 500) else response.status

    def wait(self, job, state):
        wait_until(lambda: self.state(job) == state, 60, f"{job} {state}", lambda: f"it reads {self.state(job)}")

    def cancel(self, job):
        view, process_id = job
        response = self.client.post(
            f"{self.site}/@@{view}/cancel", {"process_id": process_id, "_authenticator": self.token}
        )
        assert response.status == 303, response


class TestUninstalledThenWithoutThePackage(unittest.TestCase):
    def setUp(self):
        self.cluster = Cluster("netsight-async-uninstall")
        self.addCleanup(self.cluster.close)
        self.instance = self.cluster.instance()
        self.instance.create_site(SITE)
        self.instance.run_script(SITE_SHARE)  # one of the site's jobs at once: the last one waits

    def zope_without_the_package(self, script):
        """Run ``script`` with zconsole in a Zope whose environment lacks netsight.async."""
        self.instance.zcml = ""  # no test views (they are the package's)
        self.instance.write_config()
        path = self.instance.var / "scripts" / "inspect.py"
        path.write_text(textwrap.dedent(script))
        done = subprocess.run(
            [sys.executable, "-c", HIDE_PACKAGE, str(self.instance.zope_conf), str(path)],
            cwd=self.instance.directory,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            check=False,
        )
        self.assertEqual(done.returncode, 0, f"{done.stdout}\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def test_nothing_is_left(self):
        before = blob_files(self.instance)
        self.instance.start()
        with logs_on_failure(self.instance):
            jobs = Jobs(self.instance)
            done = jobs.start("big-result", size=str(BIG))
            jobs.wait(done, "done")
            failed = jobs.start("fails")
            jobs.wait(failed, "failed")
            cancelled = jobs.start("steady", steps="10000", delay="0.05")
            jobs.wait(cancelled, "running")
            jobs.cancel(cancelled)
            jobs.wait(cancelled, "cancelled")
            running = jobs.start("steady", steps="10000", delay="0.05")
            jobs.wait(running, "running")
            queued = jobs.start("steady", steps="10000", delay="0.05")
            self.assertEqual(jobs.state(queued), "queued")
            self.assertGreater(len(blob_files(self.instance)), len(before))  # the unfetched result's

            response = jobs.client.post(
                f"{jobs.site}/@@uninstall_products",
                {"uninstall_product": "netsight.async", "_authenticator": jobs.token},
            )
            self.assertEqual(response.status, 302, response.text[:500])
            for job in (done, failed, cancelled, running, queued):
                self.assertEqual(jobs.state(job), 404, job)
            self.assertEqual(jobs.client.get(f"{jobs.site}/@@my-processes").status, 404)
            self.assertNotIn("Could not uninstall", self.instance.log.read_text())
        self.instance.stop()  # SIGTERM: the handler finds no registry, and writes nothing

        left = self.zope_without_the_package(INSPECT)

        self.assertEqual(left["modules"], [])
        self.assertGreater(left["objects"], 1000)  # the walk went through the site
        self.assertEqual(left["missing classes"], [])
        self.assertEqual(left["root keys"], [])
        self.assertNotIn("netsight-async-processes", left["user actions"])
        self.assertEqual(left["profile version"], "unknown")
        self.assertNotIn("netsight_async_process_registry", left["zope root ids"])
        self.assertEqual(blob_files(self.instance), before)  # packed: the result's blob file went

class TestTheRemovalCommand(unittest.TestCase):
    def test_it_removes_every_sites_processes(self):
        cluster = Cluster("netsight-async-removal")
        self.addCleanup(cluster.close)
        instance = cluster.instance()
        instance.create_site(SITE)
        instance.start()
        with logs_on_failure(instance):
            jobs = Jobs(instance)
            done = jobs.start("hello")
            jobs.wait(done, "done")
            instance.stop()
        self.assertIn(registry.ROOT_KEY, root_keys(instance))
        command = [sys.executable, "-m", "netsight.asynchronous.removal", str(instance.zope_conf)]
        done = subprocess.run(
            command, cwd=instance.directory, env=_child_env(), capture_output=True, text=True, timeout=SCRIPT_TIMEOUT
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("removed the process registry (1 processes)", done.stdout)
        self.assertEqual(root_keys(instance), [])
        again = subprocess.run(
            command, cwd=instance.directory, env=_child_env(), capture_output=True, text=True, timeout=SCRIPT_TIMEOUT
        )
        self.assertIn("nothing to remove", again.stdout)


class TestNothingWrittenBeforeASiteUsesIt(unittest.TestCase):
    def test_a_zope_start_and_stop_commit_nothing(self):
        cluster = Cluster("netsight-async-no-writes")
        self.addCleanup(cluster.close)
        instance = cluster.instance(zcml="", product_config=FAST)  # the package is there; the site never installs it
        instance.create_site(SITE, profiles=("plone.app.contenttypes:default",))
        last = last_transaction(instance)
        instance.run_script(NOTHING, job_threads=None)  # zconsole: Zope starts (IProcessStarting), then the script ends
        self.assertEqual(last_transaction(instance), last)
        # Zope and Plone write a few things of their own at their first requests: let them.
        instance.start()
        with logs_on_failure(instance):
            self.assertEqual(Client(*MANAGER).get(f"{instance.url}{SITE}").status, 200)
            instance.stop()
        self.assertEqual(root_keys(instance), [])
        # From now on nothing is written: a start, requests, the maintenance
        # thread's beats, claims and housekeeping (FAST), a stop by SIGTERM.
        last = last_transaction(instance)
        instance.start()
        with logs_on_failure(instance):
            client = Client(*MANAGER)
            deadline = time.monotonic() + WATCH
            while time.monotonic() < deadline:
                self.assertEqual(client.get(f"{instance.url}{SITE}").status, 200)
                self.assertEqual(client.get(f"{instance.url}{SITE}/@@my-processes").status, 404)
            instance.stop()  # SIGTERM
        self.assertEqual(last_transaction(instance), last)
        self.assertEqual(root_keys(instance), [])
