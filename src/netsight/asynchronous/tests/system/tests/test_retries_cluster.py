"""Automatic retries on a cluster: a failed attempt's retry waits in the database and runs on another instance.

Two worker instances A and B of one ZEO server. A Member starts a job on A
whose first attempt fails (``retry_on``); its retry is scheduled some
seconds later, in the failure's own transaction. A is stopped before the
retry is due: B's maintenance queues it at its time and runs it, once.
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


BACKOFF = 10  # seconds: the retry is due 5 to 10 s after the failure, once A has stopped


TWO_WORKERS = TwoWorkersLayer("netsight-async-retries", name="NetsightAsync:RetriesTwoWorkers")


class TestRetriesOnACluster(ClusterTestCase):
    layer = TWO_WORKERS

    def record(self, process_id):
        """What the database holds of ``process_id`` now: a dict of its fields, or None."""
        with self.database_now() as connection:
            record = registry.find(connection, process_id)
            if record is None:
                return None
            names = ("state", "instance", "attempt", "retry_of", "retried_by", "run_after", "started", "finished", "run")
            return {name: getattr(record, name) for name in names}

    def test_the_retry_of_an_attempt_that_failed_on_a_runs_on_b_after_a_stopped(self):
        a, b = self.layer["a"], self.layer["b"]
        member = Client(*MEMBER)
        view = f"{a.url}{SITE_PATH}/@@fails-first-attempt"
        with logs_on_failure(a, b):
            token = member.token(f"{a.url}{SITE_PATH}/@@own-template")
            started = member.post(view, {"_authenticator": token, "backoff": str(BACKOFF)})
            self.assertEqual(started.status, 303, started.text[:500])
            (first,) = parse_qs(urlsplit(started.location).query)["process_id"]
            failed = wait_until(
                lambda: (record := self.record(first)) and record["state"] == registry.FAILED and record,
                timeout=60,
                what="the first attempt to fail",
            )
            second = failed["retried_by"]
            self.assertIsNotNone(second)  # written with the failure, in its transaction
            retry = self.record(second)
            self.assertEqual((retry["state"], retry["attempt"], retry["retry_of"]), (registry.SCHEDULED, 2, first))
            self.assertGreaterEqual(retry["run_after"] - failed["finished"], BACKOFF / 2 - 0.01)
            self.assertLessEqual(retry["run_after"] - failed["finished"], BACKOFF + 0.01)
            a.stop()
            self.addCleanup(a.start)  # the layer's A, for whatever runs next
            self.assertLess(time.time(), retry["run_after"], "A stopped after the retry was due")
            done = wait_until(
                lambda: (record := self.record(second)) and record["state"] == registry.DONE and record,
                timeout=90,
                what="the retry to run on B",
            )
            self.assertNotEqual(done["instance"], failed["instance"])  # not A's
            self.assertEqual((done["run"], done["retried_by"]), (1, None))  # it ran once, and nothing retries it
            self.assertGreaterEqual(done["started"], retry["run_after"])  # never before its time
            answer = member.get(f"{b.url}{SITE_PATH}/@@fails-first-attempt/result?process_id={second}")
            self.assertEqual(answer.status, 200, answer.text[:500])
            self.assertEqual(answer.text, f"attempt 2 ran on {done['instance']}")
            print(f"\n    [retry on a cluster: due {retry['run_after'] - failed['finished']:.1f} s after the failure on A, "
                  f"started on B {done['started'] - retry['run_after']:.2f} s after its time]", end=" ")
