"""Only once on a cluster: two starts of one key at the same moment on two instances of one ZEO server give one process.

Two worker instances A and B; in each round a Member posts the same new
key to A and to B from two threads released together (a barrier). Each
start reads the only-once index and writes its key with the record, in
its own transaction: where both found the key free, the second commit
conflicts (the same key inserted twice), Zope retries that start, and
the retry finds the first's process. Both answers send the browser to
that one process's page (303); the database holds one process of the key.
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

import sys
import threading
import uuid


ROUNDS = 8


TWO_WORKERS = TwoWorkersLayer("netsight-async-only-once", name="NetsightAsync:OnlyOnceTwoWorkers")


class TestOnlyOnceOnACluster(ClusterTestCase):
    layer = TWO_WORKERS

    def processes_of(self, name):
        """The ids of the processes started with ``name``, as the database holds them now."""
        with self.database_now() as connection:
            store = registry.stored(connection.root())
            records = [] if store is None else store.records.values()
            return [record.process_id for record in records if ("name", name) in tuple(record.form_values)]

    def test_two_starts_at_the_same_moment_on_two_instances_give_one_process(self):
        a, b = self.layer["a"], self.layer["b"]
        clients = {instance: Client(*MEMBER) for instance in (a, b)}
        tokens = {
            instance: client.token(f"{instance.url}{SITE_PATH}/@@own-template") for instance, client in clients.items()
        }
        with logs_on_failure(a, b):
            for _round in range(ROUNDS):
                key = uuid.uuid4().hex
                barrier = threading.Barrier(2)
                answers = {}

                def start(instance, key=key, barrier=barrier, answers=answers):
                    barrier.wait(timeout=60)
                    answers[instance] = clients[instance].post(
                        f"{instance.url}{SITE_PATH}/@@once-briefly",
                        {"_authenticator": tokens[instance], "name": key, "seconds": "3"},
                    )

                threads = [threading.Thread(target=start, args=(instance,)) for instance in (a, b)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(120)
                ids = set()
                for instance, response in answers.items():
                    self.assertEqual(response.status, 303, response.text[:500])
                    location = urlsplit(response.location)
                    self.assertEqual(location.path, f"{SITE_PATH}/@@once-briefly/processing")
                    ids.add(parse_qs(location.query)["process_id"][0])
                self.assertEqual(len(answers), 2)
                self.assertEqual(len(ids), 1, ids)  # both sent to the same process
                # The database holds that one (this client sees the commits within a moment: ZEO's invalidations).
                wait_until(lambda key=key: self.processes_of(key), timeout=30, what="the process in the database")
                self.assertEqual(self.processes_of(key), list(ids))
            retried = sum(
                line.count("ConflictError at /plone/@@once-briefly")
                for instance in (a, b)
                for line in instance.log.read_text(errors="replace").splitlines()
            )
            print(
                f"\n    [only once: {ROUNDS} rounds of two simultaneous starts on A and B, one process each; "
                f"{retried} starts met a conflict and were retried]",
                file=sys.stderr,
            )
