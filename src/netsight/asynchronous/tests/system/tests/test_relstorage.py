"""Two real Zope instances on RelStorage with PostgreSQL: a job's life seen from the other one.

One layer for the module: a throwaway PostgreSQL server (postgres.py), the
Plone site /plone made once (``zconsole run``), and two instances A and B
(``runwsgi``) whose main database is a history-free RelStorage in one
PostgreSQL database. Blobs are kept in the database (``shared-blob-dir
false``, RelStorage's table blob_chunk); each instance has a blob cache
of its own. The tests are those of test_cluster.py that matter for another
storage, with its helpers: a job started on A is watched and fetched on B,
once; a big result (a blob) goes from A to B through the database; A
stopped by SIGTERM while a job runs reads interrupted on B.

RelStorage polls the database for changes when a transaction begins: a
process that A committed before its 303 is there for B's next request.
"""

from plone.testing import Layer

from netsight.asynchronous import registry
from netsight.asynchronous.tests.system.tests import test_cluster
from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import Instance
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MANAGER
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import START_TIMEOUT
from netsight.asynchronous.tests.helpers.instances import STOP_TIMEOUT
from netsight.asynchronous.tests.helpers.instances import wait_until
from netsight.asynchronous.tests.helpers.postgres import PostgreSQL

import psycopg2
import signal
import time
import unittest


SITE_PATH = test_cluster.SITE_PATH
BIG_RESULT = 4 * 2**20  # bytes: a blob (capture.INLINE_LIMIT is 256 KiB)


class RelStorageInstance(Instance):
    """An instance whose databases are RelStorages in the PostgreSQL database of ``dsn``."""

    def __init__(self, directory, *, dsn, **options):
        self.dsn = dsn
        super().__init__(directory, **options)

    def _storage(self, name):
        return (
            "  <relstorage>\n"
            "    keep-history false\n"
            f"    blob-dir $INSTANCE/var/blobcache/{name}\n"
            "    shared-blob-dir false\n"
            "    blob-cache-size 100mb\n"
            "    <postgresql>\n"
            f"      dsn {self.dsn}\n"
            "    </postgresql>\n"
            "  </relstorage>\n"
        )

    def _zope_conf(self):
        return "%import relstorage\n\n" + super()._zope_conf()


class RelStorageLayer(Layer):
    """PostgreSQL, the site /plone, instances A and B on RelStorage."""

    def setUp(self):
        self.postgresql = self.cluster = None
        try:
            self.postgresql = PostgreSQL()
            self.postgresql.start()
            dsn = self.postgresql.create_database("zodb")
            self.cluster = Cluster("netsight-async-relstorage")
            a, b = (
                RelStorageInstance(self.cluster.directory / name, dsn=dsn, product_config=test_cluster.PRODUCT_CONFIG)
                for name in ("a", "b")
            )
            self.cluster.members += [a, b]  # Cluster.close stops them
            a.create_site(SITE_PATH)  # zconsole run; RelStorage makes its tables
            # Both load Plone at once (two cores); each is ready once it answers HTTP.
            for instance in (a, b):
                instance.process.start()
            for instance in (a, b):
                wait_until(instance._started, START_TIMEOUT, instance.what, instance.log_tail)
        except BaseException:
            self._close()
            raise
        self["postgresql"], self["dsn"], self["a"], self["b"] = self.postgresql, dsn, a, b

    def tearDown(self):
        self._close()
        del self["postgresql"], self["dsn"], self["a"], self["b"]

    def _close(self):
        # The instances first: their signal handlers write to the database.
        if self.cluster is not None:
            self.cluster.close()
        if self.postgresql is not None:
            self.postgresql.close()


RELSTORAGE = RelStorageLayer(name="NetsightAsync:RelStorage")


class TestRelStorage(unittest.TestCase):
    layer = RELSTORAGE

    # test_cluster's helpers (its TestCase is not subclassed: its tests would run here too).
    _cluster = test_cluster.TestTwoInstances
    start = _cluster.start
    status = _cluster.status
    poll = _cluster.poll
    running_with_progress = _cluster.running_with_progress
    assert_interrupted = _cluster.assert_interrupted
    del _cluster

    def setUp(self):
        self.a = self.layer["a"]
        self.b = self.layer["b"]
        for instance in (self.a, self.b):  # the SIGTERM test leaves A stopped
            if not instance.running:
                instance.start()

    def test_one_shot_across_instances(self):
        """A Member's job started on A, its progress watched on B, fetched on B; then gone on both."""
        member = Client(*MEMBER)
        with logs_on_failure(self.a, self.b):
            job = self.start(member, self.a, steps="6", delay="0.3")
            self.running_with_progress(member, self.b, job)
            answer = self.poll(member, self.b, job, lambda answer: answer["state"] == registry.DONE, "done")
            self.assertEqual(answer["completed"], 100)
            response = member.get(job.url(self.b, "result"))
            self.assertEqual(response.status, 200, response.text[:500])
            self.assertEqual(test_cluster.result_heading(response), "Done after 6 steps")
            for instance in (self.a, self.b):  # shown once: its owner is told so on each instance
                self.assertEqual(member.get(job.url(instance, "result")).status, 410)
                code, answer = self.status(member, instance, job)
                self.assertEqual((code, answer["state"]), (410, "shown"))

    def test_a_big_result_goes_through_the_database(self):
        """A result bigger than capture.INLINE_LIMIT: a blob, stored in PostgreSQL by A, read by B."""
        member = Client(*MEMBER)
        with logs_on_failure(self.a, self.b):
            before = self.blob_chunks()
            job = self.start(member, self.a, view="big-result", size=str(BIG_RESULT), how="write")
            self.poll(member, self.b, job, lambda answer: answer["state"] == registry.DONE, "done")
            self.assertGreater(self.blob_chunks(), before)
            status, headers, size, sha = test_cluster.streamed(member, job.url(self.b, "result"))
            self.assertEqual((status, headers["Content-Length"]), (200, str(BIG_RESULT)))
            self.assertEqual((size, sha), (BIG_RESULT, test_cluster.big_digest(BIG_RESULT)))
            self.assertEqual(member.get(job.url(self.a, "result")).status, 410)  # shown once

    def blob_chunks(self):
        """How many blob chunks RelStorage's table holds."""
        connection = psycopg2.connect(self.layer["dsn"])
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM blob_chunk")
                return cursor.fetchone()[0]
        finally:
            connection.close()

    def test_stopped_by_sigterm_reads_interrupted_on_the_other_instance(self):
        """SIGTERM to A while a Member's job runs: B reads it interrupted, with the reason."""
        member = Client(*MEMBER)
        with logs_on_failure(self.a, self.b):
            job = self.start(member, self.a, **test_cluster.LONG_JOB)
            self.running_with_progress(member, self.b, job)
            sent = time.monotonic()
            self.a.process.send(signal.SIGTERM)
            answer = self.poll(
                member, self.b, job, lambda answer: answer["state"] != registry.RUNNING, "no longer running",
                timeout=test_cluster.SIGNAL_DEADLINE,
            )
            seen = time.monotonic() - sent
            self.assert_interrupted(answer)
            # Why, a Manager reads (the owner does not). A's handler marks
            # A stopped (B reads the job interrupted from then on), then
            # each job, with the reason, in a transaction of its own.
            answer = self.poll(
                Client(*MANAGER), self.b, job, lambda answer: registry.STOPPED_REASON in answer.get("error_detail", ""),
                "marked with the reason", fail_if_ended=False,
            )
            self.assert_interrupted(answer, registry.STOPPED_REASON)
            ended = self.a.process.wait(STOP_TIMEOUT)
            if not ended:
                self.a.kill()
            self.assertTrue(ended, f"A did not end within {STOP_TIMEOUT}s of SIGTERM")
            self.assertIn(self.a.process.returncode, (0, -signal.SIGTERM))
            test_cluster.report(f"SIGTERM: interrupted on B after {seen:.2f}s")
