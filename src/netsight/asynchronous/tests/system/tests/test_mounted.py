"""A Plone site in a mounted database (Products.ZODBMountPoint), in a real instance.

Large sites put their Plone site into a second ZODB, a ``<zodb_db>``
mounted at a path of the Zope root. The choice for such a site:

- the process registry lives in the main database, the one that holds the
  Zope application root, whichever database holds the job's context;
- the job is published from the Zope application root of the main
  database, exactly as Zope publishes a request: the mounted database is
  reached through its mount point, users are found in the user folders
  from the Zope root down.

One instance (tests/instances.py) serves a FileStorage main database and a
second FileStorage mounted at /sites, with the Plone site /sites/plone; a
Member of the site and a Manager of the Zope root start jobs over HTTP.
"""

from plone.testing import Layer
from urllib.parse import parse_qs
from urllib.parse import urlsplit
from ZODB.DB import DB
from ZODB.FileStorage import FileStorage

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MANAGER
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import wait_until

import contextlib
import re
import unittest


MOUNT_POINT = "/sites"
SITE_PATH = "/sites/plone"
DEADLINE = 60  # seconds for a job of milliseconds


class MountedSiteLayer(Layer):
    """One instance, main and /sites databases, the site /sites/plone."""

    def setUp(self):
        self.cluster = Cluster("netsight-async-mounted")
        instance = self.cluster.instance(mounts={"sites": MOUNT_POINT})
        instance.create_site(SITE_PATH)  # before start: a FileStorage has one user
        instance.start()
        self["instance"] = instance

    def tearDown(self):
        self.cluster.close()
        del self["instance"]


MOUNTED_SITE = MountedSiteLayer(name="NetsightAsync:MountedSite")


@contextlib.contextmanager
def database_root(path):
    """The root mapping of the FileStorage at ``path``, opened read-only."""
    db = DB(FileStorage(str(path), read_only=True))
    try:
        connection = db.open()
        try:
            yield connection.root()
        finally:
            connection.close()
    finally:
        db.close()


class TestMountedSite(unittest.TestCase):
    layer = MOUNTED_SITE

    def setUp(self):
        self.instance = self.layer["instance"]
        self.site_url = self.instance.url + SITE_PATH

    def start(self, client, view, **form):
        """POST to ``view`` of the site; returns the view's URL and the process id."""
        token = client.token(f"{self.site_url}/@@own-template")
        self.assertTrue(token)
        response = client.post(f"{self.site_url}/@@{view}", {"_authenticator": token, **form})
        self.assertEqual(response.status, 303, response.text[:500])
        location = urlsplit(response.location)
        self.assertEqual(f"{location.scheme}://{location.netloc}", self.instance.url)
        self.assertRegex(location.path, rf"^{re.escape(SITE_PATH)}/(@@)?{re.escape(view)}/processing$")
        (process_id,) = parse_qs(location.query)["process_id"]
        self.assertRegex(process_id, r"^[0-9a-f]{32}$")
        view_url = response.location.split("?")[0].rsplit("/", 1)[0]
        return view_url, process_id

    def wait_done(self, client, view_url, process_id):
        """Poll ``completed`` as the processing page does, until the job is done."""

        def done():
            response = client.get(f"{view_url}/completed?process_id={process_id}&output_json=1")
            self.assertEqual(response.status, 200, response.text[:500])
            answer = response.json()
            self.assertIn(answer["state"], (registry.QUEUED, registry.RUNNING, registry.DONE), answer)
            return answer["state"] == registry.DONE

        wait_until(done, DEADLINE, f"process {process_id}", self.instance.log_tail)

    def run_job(self, client, view, **form):
        """Start ``view``, wait for it, fetch its result once; returns the result."""
        view_url, process_id = self.start(client, view, **form)
        self.wait_done(client, view_url, process_id)
        result_url = f"{view_url}/result?process_id={process_id}"
        response = client.get(result_url)
        self.assertEqual(response.status, 200, response.text[:500])
        self.assertEqual(client.get(result_url).status, 410)  # once only: its owner is told so
        return response

    def test_member_of_the_site(self):
        with logs_on_failure(self.instance):
            response = self.run_job(Client(*MEMBER), "hello")
            self.assertEqual(response.text, "Hello world!")

    def test_manager_of_the_zope_root(self):
        with logs_on_failure(self.instance):
            response = self.run_job(Client(*MANAGER), "hello")
            self.assertEqual(response.text, "Hello world!")

    def test_job_is_published_as_its_user(self):
        # The Manager is found in the Zope root's user folder, the Member in
        # the site's: the job traverses from the main database's root.
        for (user, _password), role in ((MEMBER, "Member"), (MANAGER, "Manager")):
            with self.subTest(user=user), logs_on_failure(self.instance):
                seen = self.run_job(Client(user, _password), "echo").json()
                self.assertEqual(seen["user"], user)
                self.assertIn(role, seen["roles"])
                self.assertEqual(seen["context"], SITE_PATH)
                self.assertEqual(seen["site"], SITE_PATH)

    def test_registry_is_in_the_main_database(self):
        with logs_on_failure(self.instance):
            client = Client(*MEMBER)
            view_url, process_id = self.start(client, "hello")
            self.wait_done(client, view_url, process_id)  # left unfetched: its record stays
            self.instance.stop()
        self.addCleanup(self.instance.start)
        with database_root(self.instance.storage_path("main")) as root:
            self.assertIn(registry.ROOT_KEY, root)
            record = root[registry.ROOT_KEY][process_id]
            self.assertEqual(record.state, registry.DONE)
            self.assertEqual(record.context_path, SITE_PATH)
            # The Zope root holds the mount point, not the site.
            app = root["Application"]
            app._p_activate()
            self.assertEqual(type(app.__dict__["sites"]).__name__, "MountedObject")
        with database_root(self.instance.storage_path("sites")) as root:
            self.assertNotIn(registry.ROOT_KEY, root)
            # The mounted database has an "Application" of its own (made by
            # Products.ZODBMountPoint), whose folder "sites" holds the site.
            self.assertIn("plone", root["Application"].sites.objectIds())
