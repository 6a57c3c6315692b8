"""Two real Zope instances on one ZEO server: a job's life seen from the other one.

One layer for the module: a ZEO server, the Plone site /plone made once
(``zconsole run``), and two instances A and B (``runwsgi``) on it, with a
short heartbeat so that the tests take seconds. Jobs start on A over HTTP;
B watches them. A is stopped (SIGTERM: its handler marks its jobs
``interrupted``, then the signal ends the process; SIGINT: the signal goes
on as a KeyboardInterrupt, and A marks its jobs as its databases close)
or killed (SIGKILL: its heartbeat stops, B reads its jobs ``interrupted``
after ``heartbeat-timeout``, and housekeeping marks them); every such test
starts A again. A burst of jobs on A shows its bounded pool from outside:
the thread count of the process (/proc), the queue positions, every
result fetched on B. Extra instances, started by a test and stopped after
it: G, started with SIGINT ignored (as `runwsgi ... &` in a script), which
a SIGINT leaves serving and never reading stopped; W, whose heartbeats
are 20 s apart, whose job sees a cancel asked on F all the same.

The measured times are printed (stderr) as the tests run.
"""

from plone.testing import Layer
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlsplit

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MANAGER
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import STOP_TIMEOUT
from netsight.asynchronous.tests.helpers.instances import wait_until
from netsight.asynchronous.tests.helpers.views import big_digest

import base64
import hashlib
import json
import lxml.html
import re
import signal
import sys
import threading
import time
import unittest
import urllib.request


SITE_PATH = "/plone"
POOL_SIZE = 2
HEARTBEAT_INTERVAL = 0.5
HEARTBEAT_TIMEOUT = 4
HOUSEKEEPING_INTERVAL = 1
PRODUCT_CONFIG = {
    "pool-size": str(POOL_SIZE),
    "heartbeat-interval": str(HEARTBEAT_INTERVAL),
    "heartbeat-timeout": str(HEARTBEAT_TIMEOUT),
    "housekeeping-interval": str(HOUSEKEEPING_INTERVAL),
    "queue-limit": "0",  # a burst of BURST jobs waits whole (the default, 20, would refuse some)
}
DEADLINE = 60  # seconds for what takes a second or two
SIGNAL_DEADLINE = 30  # seconds from a signal to the job read as interrupted on B
KILL_SLACK = 6  # seconds beyond heartbeat-timeout (+ one interval) for SIGKILL
LONG_JOB = {"steps": "200", "delay": "0.1"}  # 20 s of work, a progress report every 0.1 s
STOP_SOON = 15  # seconds for an instance to end after SIGTERM with its ZEO server down (ZEO's wait_timeout: 30)
CANCEL_WINDOW = 8  # seconds a job checks is_cancelled before it ends done (W's heartbeat-interval: 20)
INTERRUPTED_TEXT = "The server was stopped before the process completed."
BURST = 30
BIG_RESULT = 100 * 2**20  # bytes
ENDED = frozenset({registry.DONE, registry.FAILED, registry.CANCELLED, registry.INTERRUPTED})
# ZEO sends a commit's invalidations to the other clients asynchronously:
# right after A committed a new process (its start answered 303), B may
# not have them yet. The status pages then ask the server before they
# answer 404 (pages._find_after_sync): a poll never accepts a 404.


class TwoInstancesLayer(Layer):
    """A ZEO server, the site /plone, instances A and B, and a front-end F (no pool)."""

    def setUp(self):
        self.cluster = Cluster("netsight-async-cluster")
        zeo = self.cluster.zeo_server()
        zeo.start()
        a, b = (self.cluster.instance(zeo=zeo, product_config=PRODUCT_CONFIG) for _ in range(2))
        f = self.cluster.instance(zeo=zeo, product_config={**PRODUCT_CONFIG, "pool-size": "0"})
        a.create_site(SITE_PATH)  # zconsole run, on the ZEO server
        for instance in (a, b, f):
            instance.start()
        self["zeo"], self["a"], self["b"], self["f"] = zeo, a, b, f

    def tearDown(self):
        self.cluster.close()
        del self["zeo"], self["a"], self["b"], self["f"]


TWO_INSTANCES = TwoInstancesLayer(name="NetsightAsync:TwoInstances")


def report(text):
    """A measured figure, in the test run's output."""
    print(f"\n    [{text}]", file=sys.stderr)


class Job:
    """A process started over HTTP: its id and the path of its view."""

    def __init__(self, view_path, process_id):
        self.view_path = view_path  # /plone/@@steady
        self.process_id = process_id

    def url(self, instance, page, **query):
        extra = "".join(f"&{key}={value}" for key, value in query.items())
        return f"{instance.url}{self.view_path}/{page}?process_id={self.process_id}{extra}"


class TestTwoInstances(unittest.TestCase):
    layer = TWO_INSTANCES

    def setUp(self):
        self.a = self.layer["a"]
        self.b = self.layer["b"]
        self.f = self.layer["f"]
        self.zeo = self.layer["zeo"]
        for server in (self.zeo, self.a, self.b, self.f):  # a test before may have failed with one down
            if not server.running:
                server.start()

    # Helpers.

    def start(self, client, instance, view="steady", **form):
        """POST to ``view`` of the site on ``instance``; the Job."""
        site_url = instance.url + SITE_PATH
        token = client.token(f"{site_url}/@@own-template")
        self.assertTrue(token)
        response = client.post(f"{site_url}/@@{view}", {"_authenticator": token, **form})
        self.assertEqual(response.status, 303, response.text[:500])
        location = urlsplit(response.location)
        self.assertEqual(f"{location.scheme}://{location.netloc}", instance.url)
        self.assertRegex(location.path, rf"^{re.escape(SITE_PATH)}/@@{re.escape(view)}/processing$")
        (process_id,) = parse_qs(location.query)["process_id"]
        self.assertRegex(process_id, r"^[0-9a-f]{32}$")
        return Job(location.path.rsplit("/", 1)[0], process_id)

    def status(self, client, instance, job):
        """The ``completed`` JSON of ``job`` as ``instance`` answers it (with the HTTP status)."""
        response = client.get(job.url(instance, "completed", output_json=1))
        content_type = response.headers.get("Content-Type", "").split(";")[0]
        self.assertEqual(content_type, "application/json", response.text[:500])
        return response.status, response.json()

    def poll(self, client, instance, job, predicate, what, timeout=DEADLINE, fail_if_ended=True):
        """Poll ``job`` on ``instance`` until ``predicate(answer)``; the answer.

        An answer in an ended state that is not the one awaited fails at
        once (with ``fail_if_ended``); a 404 fails at once too.
        """
        last = None

        def look():
            nonlocal last
            code, answer = last = self.status(client, instance, job)
            if code == 404:
                self.fail(self.unknown(client, instance, job, answer))
            self.assertEqual(code, 200, answer)
            if predicate(answer):
                return answer
            if fail_if_ended:
                self.assertNotIn(answer["state"], ENDED, f"{job.process_id} on {instance.url}, for {what}: {answer}")
            return None

        # The logs' tails come with logs_on_failure, around each test.
        return wait_until(look, timeout, f"{job.process_id} on {instance.url}: {what}", lambda: f"last answer: {last}")

    def unknown(self, client, instance, job, answer):
        """What to say of a poll answered 404: how A and B read the job then, and a second later."""
        seen = []
        for delay in (0, 1):
            time.sleep(delay)  # after the failure, to describe it: no outcome waits on this
            seen.append({server.url: self.status(client, server, job)[0] for server in (self.a, self.b)})
        return f"{job.process_id} answered 404 on {instance.url}: {answer}; then, on each instance: {seen}"

    def running_with_progress(self, client, instance, job):
        return self.poll(
            client,
            instance,
            job,
            lambda answer: answer["state"] == registry.RUNNING
            and isinstance(answer["completed"], (int, float))
            and not isinstance(answer["completed"], bool)
            and answer["completed"] > 0,
            "running, with progress",
        )

    def assert_interrupted(self, answer, reason=None):
        self.assertEqual(answer["state"], registry.INTERRUPTED, answer)
        self.assertEqual(answer["completed"], "ERROR", answer)
        self.assertEqual(answer["progress"], "ERROR", answer)
        self.assertEqual(answer["error"], INTERRUPTED_TEXT, answer)
        if reason is not None:
            self.assertIn(reason, answer.get("error_detail", ""), answer)

    def restart_a(self):
        """Start A again (it ended) and check it answers."""
        self.assertFalse(self.a.running)
        self.a.start()

    def extra_instance(self, sigint_ignored=False, **config):
        """Another instance on the ZEO server, started, stopped after the test.

        ``sigint_ignored``: started as ``runwsgi ... &`` from a script starts
        it, SIGINT ignored (``trap '' INT`` before ``exec``: the process
        inherits the disposition)."""
        instance = self.layer.cluster.instance(zeo=self.zeo, product_config={**PRODUCT_CONFIG, **config})
        if sigint_ignored:
            instance.process.argv = ["/bin/sh", "-c", 'trap "" INT; exec "$0" "$@"', *instance.process.argv]
        self.addCleanup(instance.stop)
        instance.start()
        return instance

    # The tests.

    def test_stopped_by_a_signal_reads_interrupted_on_the_other_instance(self):
        """SIGTERM (a service manager's stop) and SIGINT (Ctrl-C) while a job runs on A; SIGTERM twice at
        once too (make passes on the SIGTERM that its process group got: the second came while the first
        was handled, and A hung for good)."""
        manager = Client(*MANAGER)
        stops = ((signal.SIGTERM, 1, (0, -signal.SIGTERM)), (signal.SIGINT, 1, (0, -signal.SIGINT)), (signal.SIGTERM, 2, (0, -signal.SIGTERM)))
        for sig, times, codes in stops:
            with self.subTest(signal=sig.name, times=times), logs_on_failure(self.a, self.b):
                if not self.a.running:  # the subtest before failed with A down
                    self.a.start()
                job = self.start(manager, self.a, **LONG_JOB)
                self.running_with_progress(manager, self.b, job)

                # Send the signal and watch on B while A ends; then see that
                # A ended by itself (the handler chained to the signal's
                # previous handler), without the fixture's SIGKILL.
                sent = time.monotonic()
                for _ in range(times):
                    self.a.process.send(sig)
                answer = self.poll(
                    manager, self.b, job, lambda answer: answer["state"] != registry.RUNNING, "no longer running",
                    timeout=SIGNAL_DEADLINE,
                )
                seen = time.monotonic() - sent
                self.assert_interrupted(answer)
                # The stopped flag is written first, then each job is marked with why.
                answer = self.poll(
                    manager, self.b, job, lambda answer: registry.STOPPED_REASON in answer.get("error_detail", ""),
                    "marked by A's handler", timeout=SIGNAL_DEADLINE, fail_if_ended=False,
                )
                self.assert_interrupted(answer, registry.STOPPED_REASON)
                ended = self.a.process.wait(STOP_TIMEOUT)
                exited = time.monotonic() - sent
                if not ended:
                    self.a.kill()
                self.assertTrue(ended, f"A did not end within {STOP_TIMEOUT}s of {sig.name}")
                self.assertIn(self.a.process.returncode, codes)
                report(
                    f"{sig.name}: interrupted on B after {seen:.2f}s; A exited by itself after "
                    f"{exited:.2f}s, code {self.a.process.returncode}"
                )

                # After the restart (a new instance id), the job still reads
                # interrupted, on A as on B; its housekeeping changes nothing.
                self.restart_a()
                for instance in (self.a, self.b):
                    code, answer = self.status(manager, instance, job)
                    self.assertEqual(code, 200, answer)
                    self.assert_interrupted(answer, registry.STOPPED_REASON)
                # The processing page says so too (500, the page of an ended process).
                response = manager.get(job.url(self.a, "processing"))
                self.assertEqual(response.status, 500)
                self.assertIn(INTERRUPTED_TEXT, response.text)

    def test_an_ignored_sigint_neither_stops_the_instance_nor_makes_it_read_stopped(self):
        """`runwsgi ... &` in a script (SIGINT ignored), then SIGINT: G serves on, its
        new jobs run and show their result; SIGTERM still stops it."""
        member = Client(*MEMBER)
        g = self.extra_instance(sigint_ignored=True)
        with logs_on_failure(g):
            g.process.send(signal.SIGINT)
            # A job of 2 s, then another: a handler that took the signal (the
            # main thread may see it only at its next select timeout, 1 s)
            # would have said G stopped while they ran.
            for steps, delay in (("10", "0.2"), ("3", "0.1")):
                job = self.start(member, g, steps=steps, delay=delay)
                # Never "interrupted" on the way (poll fails at once on another end).
                self.poll(member, g, job, lambda answer: answer["state"] == registry.DONE, "done")
                response = member.get(job.url(g, "processing"))
                self.assertEqual(response.status, 302, response.text[:500])
                self.assertEqual(response.location, job.url(g, "result"))
                response = member.get(job.url(g, "result"))
                self.assertEqual(response.status, 200, response.text[:500])
                self.assertEqual(result_heading(response), f"Done after {steps} steps")
            self.assertTrue(g.running)
            log = g.log.read_text()
            self.assertIn("SIGINT is ignored by this process; it stays ignored", log)
            self.assertNotIn("netsight.async: stopping", log)
            # SIGTERM was not ignored: its handler is there, and the process ends by itself.
            g.process.send(signal.SIGTERM)
            self.assertTrue(g.process.wait(STOP_TIMEOUT), f"G did not end within {STOP_TIMEOUT}s of SIGTERM")
            self.assertIn(g.process.returncode, (0, -signal.SIGTERM))
            self.assertIn("netsight.async: stopping", g.log.read_text())

    def test_a_stop_while_the_zeo_server_is_away_waits_not_for_it(self):
        """SIGTERM to G while its job runs and the ZEO server is down: G ends by itself within
        ``STOP_SOON`` seconds, as it says (it waited 30 s at each of two writes: a minute, past a
        service manager's or cluster.py's patience); its job reads interrupted after heartbeat-timeout."""
        for instance in (self.a, self.b, self.f):  # they lived through the server's restart (see the ZEO restart test)
            self.addCleanup(instance.stop)
        member = Client(*MEMBER)
        g = self.extra_instance()
        with logs_on_failure(g):
            job = self.start(member, g, **LONG_JOB)
            self.running_with_progress(member, g, job)
            self.zeo.stop()
            self.addCleanup(lambda: self.zeo.running or self.zeo.start())
            g.process.send(signal.SIGTERM)
            ended = g.process.wait(STOP_SOON)
            self.assertTrue(ended, f"G did not end within {STOP_SOON}s of SIGTERM with its ZEO server down")
            self.assertIn(g.process.returncode, (0, -signal.SIGTERM))
            self.assertIn("stopping without marking the jobs of this instance: its database is out of reach",
                          g.log.read_text())

    def test_a_cancel_on_another_instance_reaches_a_job_that_only_checks_is_cancelled(self):
        """W runs a job that checks ``is_cancelled`` and reports nothing, for
        CANCEL_WINDOW seconds; a cancel asked on F reaches it (it returns,
        saying so) though no heartbeat of W comes meanwhile (its
        heartbeat-interval is 20 s, from the job's start). Had it not seen
        the cancel, the job would read cancelled once the housekeeping of
        A, B or F (heartbeat-timeout 4 s) took W for dead, or done after
        CANCEL_WINDOW with "ran to its end"."""
        member = Client(*MEMBER)
        w = self.extra_instance(**{"heartbeat-interval": "20", "heartbeat-timeout": "60"})
        with logs_on_failure(w, self.f):
            token = member.token(f"{self.f.url}{SITE_PATH}/@@own-template")
            job = self.start(member, w, view="watches-cancel", seconds=str(CANCEL_WINDOW))
            self.poll(member, w, job, lambda answer: answer["state"] == registry.RUNNING, "running")
            response = member.post(
                job.url(self.f, "cancel"), {"_authenticator": token}, headers={"Accept": "application/json"}
            )
            asked = time.monotonic()
            self.assertEqual(response.status, 200, response.text[:500])
            answer = response.json()
            if answer["state"] == registry.RUNNING:  # F's answer may come after the job's end
                self.assertIs(answer.get("cancelling"), True, answer)
                self.assertEqual(answer["progress_message"], "Cancelling...", answer)
            # F's heartbeat-timeout is 4 s: W, whose beats are 20 s apart, is watched on W.
            answer = self.poll(
                member, w, job, lambda answer: answer["state"] != registry.RUNNING, "stopped", fail_if_ended=False
            )
            stopped = time.monotonic() - asked
            self.assertEqual(answer["state"], registry.DONE, answer)
            response = member.get(job.url(self.f, "result"))
            self.assertEqual((response.status, response.text), (200, "stopped by is_cancelled"))
            report(f"a cancel asked on F: the job on W saw it and ended {stopped:.2f}s later")

    def test_killed_reads_interrupted_after_the_heartbeat_timeout(self):
        """SIGKILL: no handler runs; B reads the job interrupted once A's heartbeat is stale,
        then B's housekeeping marks it with the reason."""
        manager = Client(*MANAGER)
        with logs_on_failure(self.a, self.b):
            job = self.start(manager, self.a, **LONG_JOB)
            self.running_with_progress(manager, self.b, job)
            killed = time.monotonic()
            self.assertEqual(self.a.kill(), -signal.SIGKILL)
            answer = self.poll(
                manager, self.b, job, lambda answer: answer["state"] != registry.RUNNING, "no longer running",
                timeout=HEARTBEAT_TIMEOUT + HEARTBEAT_INTERVAL + KILL_SLACK,
            )
            seen = time.monotonic() - killed
            self.assert_interrupted(answer)
            # Derived from the heartbeat: not before a good part of the
            # timeout passed (the last beat was at most an interval before
            # the kill, later only if A's maintenance thread lagged).
            self.assertGreater(seen, HEARTBEAT_TIMEOUT / 2)
            answer = self.poll(
                manager, self.b, job, lambda answer: registry.DEAD_REASON in answer.get("error_detail", ""),
                "marked by housekeeping", fail_if_ended=False,
            )
            marked = time.monotonic() - killed
            self.assert_interrupted(answer, registry.DEAD_REASON)
            report(
                f"SIGKILL: interrupted on B after {seen:.2f}s (heartbeat-timeout {HEARTBEAT_TIMEOUT}s, "
                f"interval {HEARTBEAT_INTERVAL}s); marked dead after {marked:.2f}s"
            )
            self.restart_a()
            code, answer = self.status(manager, self.a, job)
            self.assertEqual(code, 200, answer)
            self.assert_interrupted(answer, registry.DEAD_REASON)

    def test_pool_is_bounded_seen_from_outside(self):
        """30 jobs at once on A: at most pool-size worker threads (and the writer) in A's process; they
        wait in a queue (with their positions); all 30 done and fetched on B."""
        with logs_on_failure(self.a, self.b):
            self.warm_up()
            baseline = self.steady_thread_count()
            clients = [Client(*MEMBER) for _ in range(BURST)]
            jobs = [None] * BURST
            errors = []
            barrier = threading.Barrier(BURST)
            samples = []
            sampling = threading.Event()

            def sample():
                while not sampling.is_set():
                    try:
                        samples.append(self.a.threads())
                    except (OSError, ValueError):  # A ended: the test fails elsewhere
                        return
                    sampling.wait(0.02)  # the sampling's pace

            def post(number):
                try:
                    client = clients[number]
                    token = client.token(f"{self.a.url}{SITE_PATH}/@@own-template")
                    barrier.wait(DEADLINE)
                    response = client.post(
                        f"{self.a.url}{SITE_PATH}/@@steady",
                        {"_authenticator": token, "steps": str(steps_of(number)), "delay": "0.15"},
                    )
                    assert response.status == 303, (response.status, response.text[:300])
                    process_id = parse_qs(urlsplit(response.location).query)["process_id"][0]
                    jobs[number] = Job(f"{SITE_PATH}/@@steady", process_id)
                except BaseException as exc:  # reported by the test's thread
                    errors.append(exc)
                    barrier.abort()

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            self.addCleanup(sampler.join, DEADLINE)
            self.addCleanup(sampling.set)
            posters = [threading.Thread(target=post, args=(number,), daemon=True) for number in range(BURST)]
            for thread in posters:
                thread.start()
            for thread in posters:
                thread.join(DEADLINE)
            self.assertFalse(errors, errors)
            self.assertNotIn(None, jobs)
            self.assertEqual(len({job.process_id for job in jobs}), BURST)

            # Right after the burst, most jobs wait in A's queue: the JSON
            # says so, with how many are ahead. Read on A, from the last.
            member = Client(*MEMBER)
            queued = []
            for job in reversed(jobs):
                code, answer = self.status(member, self.a, job)
                self.assertEqual(code, 200, answer)
                if answer["state"] == registry.QUEUED:
                    self.assertIsInstance(answer["queue_position"], int, answer)
                    self.assertGreaterEqual(answer["queue_position"], 0, answer)
                    self.assertIs(answer["completed"], False, answer)
                    queued.append(answer["queue_position"])
            self.assertTrue(queued and max(queued) > 0, f"no queued job with a job ahead was seen: {queued}")

            # Every job ends, done, as B sees it; B hands out every result.
            for job in jobs:
                self.poll(member, self.b, job, lambda answer: answer["state"] == registry.DONE, "done")
            for number, job in enumerate(jobs):
                response = member.get(job.url(self.b, "result"))
                self.assertEqual(response.status, 200, response.text[:500])
                self.assertEqual(result_heading(response), f"Done after {steps_of(number)} steps")
            sampling.set()
            sampler.join(DEADLINE)

            # The workers end once the queue is empty.
            wait_until(lambda: self.a.threads() == baseline, DEADLINE, "A's worker threads to end", self.a.log_tail)
            peak = max(samples)
            report(
                f"pool: {BURST} jobs, A's threads: {baseline} before, at most {peak} during "
                f"({len(samples)} samples), {max(queued)} ahead of a queued job at most"
            )
            # The maintenance thread exists from start-up (warm_up checks it):
            # the jobs add their pool's threads and the writer of their ends
            # (behind.py, one a process, while ends are written behind), no more.
            self.assertLessEqual(peak, baseline + POOL_SIZE + 1, samples)
            self.assertGreater(peak, baseline, "the sampling saw no worker thread")

    def warm_up(self):
        """A few jobs on A, so that everything made on first use exists; fetched on B."""
        started = self.steady_thread_count()
        member = Client(*MEMBER)
        jobs = [self.start(member, self.a, steps="1", delay="0.05") for _ in range(3)]
        for job in jobs:
            self.poll(member, self.b, job, lambda answer: answer["state"] == registry.DONE, "done")
            self.assertEqual(member.get(job.url(self.b, "result")).status, 200)
        after = self.steady_thread_count()
        # The maintenance thread starts with Zope (IProcessStarting): the
        # first jobs make no thread that stays.
        self.assertEqual(after, started, "a thread stayed after the first jobs")

    def steady_thread_count(self):
        """A's thread count once it stays the same for half a second."""
        seen = []

        def settled():
            seen.append(self.a.threads())
            return len(seen) >= 10 and len(set(seen[-10:])) == 1

        wait_until(settled, DEADLINE, "A's thread count to settle", self.a.log_tail)
        return seen[-1]

    def test_one_shot_across_instances(self):
        """Started on A, watched and fetched on B; then gone on A as on B."""
        member = Client(*MEMBER)
        with logs_on_failure(self.a, self.b):
            job = self.start(member, self.a, steps="3", delay="0.1")
            answers = []
            self.poll(
                member, self.b, job, lambda answer: answers.append(answer) or answer["state"] == registry.DONE, "done"
            )
            self.assertEqual(answers[-1]["completed"], 100)
            response = member.get(job.url(self.b, "result"))
            self.assertEqual(response.status, 200, response.text[:500])
            self.assertEqual(result_heading(response), "Done after 3 steps")
            # Shown once: its owner is told so on each instance.
            self.assertEqual(member.get(job.url(self.a, "result")).status, 410)
            self.assertEqual(member.get(job.url(self.b, "result")).status, 410)
            for instance in (self.a, self.b):
                code, answer = self.status(member, instance, job)
                self.assertEqual((code, answer["state"]), (410, "shown"))

    def test_a_100_mb_result_arrives_byte_for_byte_on_the_other_instance(self):
        """Captured on A into a blob (through the ZEO server), streamed back by B."""
        member = Client(*MEMBER)
        with logs_on_failure(self.a, self.b):
            job = self.start(member, self.a, view="big-result", size=str(BIG_RESULT), how="write")
            self.poll(member, self.b, job, lambda answer: answer["state"] == registry.DONE, "done")
            status, headers, size, sha = streamed(member, job.url(self.b, "result"))
            self.assertEqual((status, headers["Content-Length"]), (200, str(BIG_RESULT)))
            self.assertEqual(headers["Content-Type"], "application/octet-stream")
            self.assertEqual(size, BIG_RESULT)
            self.assertEqual(sha, big_digest(BIG_RESULT))
            self.assertEqual(member.get(job.url(self.a, "result")).status, 410)  # shown once

    # Front-ends and workers (issue 14).

    def test_a_front_ends_job_runs_on_an_instance_with_a_pool(self):
        """F (pool-size 0) queues the job in the database; A or B claims and runs it as the user."""
        member = Client(*MEMBER)
        with logs_on_failure(self.a, self.b, self.f):
            job = self.start(member, self.f, view="echo")
            started = time.monotonic()
            self.poll(member, self.f, job, lambda answer: answer["state"] != registry.QUEUED, "claimed")
            claimed = time.monotonic() - started
            self.poll(member, self.f, job, lambda answer: answer["state"] == registry.DONE, "done")
            response = member.get(job.url(self.f, "result"))
            self.assertEqual(response.status, 200, response.text[:500])
            seen = response.json()
            self.assertEqual(seen["user"], MEMBER[0])
            self.assertIsNone(seen["authorization"])
            ran_on = int(seen["instance"].split(":")[1])
            self.assertIn(ran_on, (self.a.pid, self.b.pid))
            report(f"a front-end's job: claimed by a worker {claimed:.2f}s after its start answered")

    def test_the_stored_request_holds_no_secret(self):
        """The raw Data.fs (history included) after a front-end's job: its form, none of its secrets."""
        member = Client(*MEMBER)
        with logs_on_failure(self.a, self.b, self.f):
            site_url = f"{self.f.url}{SITE_PATH}"
            token = member.token(f"{site_url}/@@own-template")
            marker = f"kept-{time.time_ns()}"
            session = base64.b64encode(f"session-{time.time_ns()}".encode()).decode("ascii")
            response = member.post(
                f"{site_url}/@@echo?_authenticator={token}",
                {"_authenticator": token, "title": marker},
                headers={"Cookie": f'__ac="{session}"; I18N_LANGUAGE="en"', "X-CSRF-TOKEN": token},
            )
            self.assertEqual(response.status, 303, response.text[:500])
            (process_id,) = parse_qs(urlsplit(response.location).query)["process_id"]
            job = Job(f"{SITE_PATH}/@@echo", process_id)
            self.poll(member, self.f, job, lambda answer: answer["state"] == registry.DONE, "done")
            raw = self.zeo.storage_path().read_bytes()
            self.assertIn(marker.encode(), raw)  # the stored request is in there
            basic = member.headers["Authorization"].split()[1]
            for secret in (session, basic):
                self.assertNotIn(secret.encode(), raw)
            # The token: not in any stored request. (A job's result may hold
            # tokens of its own: a page it rendered has its forms' tokens.)
            stored = stored_requests(raw)
            self.assertTrue(any(marker.encode() in request for request in stored))
            for request in stored:
                self.assertNotIn(token.encode(), request)
                self.assertNotIn(b"_authenticator", request)
            seen = member.get(job.url(self.f, "result")).json()
            self.assertEqual((seen["user"], seen["form"]["title"]), (MEMBER[0], marker))

    def test_no_credential_of_any_spelling_and_no_token_of_a_result_in_the_storage(self):
        """A front-end's jobs started with a login form's fields, a ticket in the query, the CSRF
        token in other spellings, and a page rendered for its user: the raw Data.fs (history
        included) and the blobs hold none of these secrets, and each job ran as its user."""
        name, password = f"holder{time.time_ns()}", f"pw{time.time_ns()}x"
        secrets = json.loads(self.f.run_script(CREDENTIALS_SCRIPT, site=SITE_PATH, name=name, password=password))
        ticket, tokens = secrets["ticket"], set(secrets["tokens"])
        anonymous, holder = Client(), Client(name, password)
        site_url = f"{self.f.url}{SITE_PATH}"
        token = holder.token(f"{site_url}/@@own-template")
        self.assertIn(token, tokens)
        boundary = "netsight-cluster-boundary"
        multipart = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'
            for field, value in (("__ac_name", name), ("__ac_password:string", password), ("_authenticator:string", token), ("title", "kept"))
        ) + f"--{boundary}--\r\n"
        starts = [
            (anonymous, f"@@echo?%5F%5Fac={quote(ticket)}&_authenticator:string={token}", {"title": "kept"}, None),
            (anonymous, "@@echo", {"__ac_name": name, "__ac_password": password, "%5Fauthenticator": token, "title": "kept"}, None),
            (anonymous, "@@echo", multipart.encode(), f"multipart/form-data; boundary={boundary}"),
            (holder, f"@@form-page?_authenticator={token}", {"padding": "300000"}, None),
            (holder, f"@@form-page?_authenticator={token}", {"padding": "0"}, None),
        ]
        jobs = []
        with logs_on_failure(self.a, self.b, self.f):
            for client, path, data, content_type in starts:
                if isinstance(data, dict):
                    data = "&".join(f"{key}={value}" for key, value in data.items()).encode()  # names as written
                headers = {"Content-Type": content_type or "application/x-www-form-urlencoded"}
                response = client.post(f"{site_url}/{path}", data, headers=headers)
                self.assertEqual(response.status, 303, response.text[:500])
                (process_id,) = parse_qs(urlsplit(response.location).query)["process_id"]
                jobs.append(Job(f"{SITE_PATH}/{path.split('?')[0]}", process_id))
            for job in jobs:
                self.poll(holder, self.f, job, lambda answer: answer["state"] == registry.DONE, "done")
            for job in jobs[:3]:
                seen = holder.get(job.url(self.f, "result")).json()
                self.assertEqual((seen["user"], seen["form"].get("title")), (name, "kept"), seen)
                self.assertFalse({"__ac", "__ac_name", "__ac_password"} & set(seen["form"]), seen["form"])
            for job in jobs[3:]:
                page = lxml.html.fromstring(holder.get(job.url(self.f, "result")).body)
                self.assertIn(page.xpath("//script[@id='protect-script']/@data-token")[0], tokens)
                self.assertIn(page.xpath("//p[@id='rendered']/text()")[0], tokens)
            stored = [self.zeo.storage_path().read_bytes()]
            stored += [path.read_bytes() for path in self.zeo.blob_dir().rglob("*.blob")]
            self.assertTrue(any(b"id=\"rendered\"" in data for data in stored))  # the pages are in there
            for what, secret in (("password", password), ("ticket", ticket), ("quoted ticket", quote(ticket)),
                                 *(("token", token) for token in tokens)):
                for where, data in zip(["Data.fs", *(f"blob {number}" for number in range(1, len(stored)))], stored):
                    self.assertFalse(secret.encode() in data, f"the {what} {secret} is in the {where}")
            report(f"no credential in the storage: {len(stored) - 1} blobs and the Data.fs searched")

    def test_a_rerunnable_job_completes_on_another_instance_after_a_kill(self):
        """A killed: its rerunnable job is queued again and B runs it; its default job reads ERROR."""
        member = Client(*MEMBER)
        with logs_on_failure(self.a, self.b, self.f):
            rerun = self.start(member, self.a, view="steady-rerun", steps="30", delay="0.1")
            default = self.start(member, self.a, view="steady", steps="30", delay="0.1")
            for job in (rerun, default):
                self.running_with_progress(member, self.b, job)
            self.assertEqual(self.a.kill(), -signal.SIGKILL)
            killed = time.monotonic()
            answers = []
            answer = self.poll(
                member, self.b, rerun, lambda answer: answers.append(answer) or answer["state"] == registry.DONE,
                "run again and done", timeout=HEARTBEAT_TIMEOUT + KILL_SLACK + DEADLINE,
            )
            self.assertEqual(answer["completed"], 100)
            # It says it ran again: queued again (a window a poll may miss), then running and done.
            self.assertTrue(answer.get("restarted"), answer)
            self.assertNotIn(registry.INTERRUPTED, {a["state"] for a in answers})
            report(f"a rerunnable job done on B {time.monotonic() - killed:.2f}s after A was killed")
            self.assert_interrupted(self.status(member, self.b, default)[1])
            response = member.get(rerun.url(self.f, "result"))
            self.assertEqual(result_heading(response), "Done after 30 steps")

    def test_a_zeo_restart_during_a_job_ends_it_one_way_or_the_other(self):
        # ZEO's clients keep the object ids they fetched ahead (up to 100)
        # across a restart of the server, which hands the ids not yet
        # committed out again: two instances may then give two new objects
        # the same id (a ConflictError, then "A different object already
        # has the same oid" on the retry). So the instances that lived
        # through the restart are stopped after it; the next test's setUp
        # starts them again (docs/deployment.rst says so for operators).
        for instance in (self.a, self.b, self.f):
            self.addCleanup(instance.stop)
        member = Client(*MEMBER)
        with logs_on_failure(self.zeo, self.a, self.b):
            job = self.start(member, self.a, steps="20", delay="0.1")
            self.running_with_progress(member, self.b, job)
            self.zeo.restart()
            answer = self.poll(
                member, self.b, job, lambda answer: answer["state"] in ENDED, "ended", fail_if_ended=False,
                timeout=DEADLINE + HEARTBEAT_TIMEOUT,
            )
            self.assertIn(answer["state"], (registry.DONE, registry.INTERRUPTED), answer)
            report(f"ZEO restarted during a job: it ended {answer['state']}")

    def test_a_hundred_jobs_over_two_instances_polled_on_the_other(self):
        """None lost, no ConflictError reaches a user: every start 303, every poll 200, every result fetched."""
        clients = [Client(*MEMBER) for _ in range(10)]
        pairs = [(self.a, self.b), (self.b, self.a)] * 50
        results, errors = {}, []

        def run(number):
            client = clients[number % len(clients)]
            here, there = pairs[number]
            try:
                job = self.start(client, here, view="noop")
                self.poll(client, there, job, lambda answer: answer["state"] == registry.DONE, "done")
                response = client.get(job.url(there, "result"))
                results[number] = (response.status, response.text)
            except BaseException as exc:  # noqa: B036 (reported below, with the others)
                errors.append(f"job {number}: {exc!r}")

        with logs_on_failure(self.a, self.b):
            threads = [threading.Thread(target=run, args=(number,)) for number in range(len(pairs))]
            started = time.monotonic()
            for batch in range(0, len(threads), 10):
                for thread in threads[batch:batch + 10]:
                    thread.start()
                for thread in threads[batch:batch + 10]:
                    thread.join(DEADLINE * 2)
            self.assertFalse(errors, "\n".join(errors))  # whole: assertEqual on the list would shorten each
            self.assertEqual(sorted(results), list(range(len(pairs))))
            self.assertEqual({result for result in results.values()}, {(200, "done")})
            report(f"100 jobs over A and B, each polled on the other: {time.monotonic() - started:.1f}s")


# Run with zconsole on the ZEO server: a Member ``name`` of the site, a
# plone.session ticket of it (its __ac cookie's value) and every CSRF token
# plone.protect may give it, as JSON.
CREDENTIALS_SCRIPT = """
from plone.keyring.interfaces import IKeyManager
from zope.component import getUtility
from zope.component.hooks import setSite
from ZPublisher.HTTPResponse import HTTPResponse
from urllib.parse import unquote

import hashlib
import hmac
import json
import os
import transaction

params = json.loads(os.environ["NETSIGHT_ASYNC_SCRIPT"])
site = globals()["app"].unrestrictedTraverse(params["site"].lstrip("/"))
setSite(site)
name = params["name"]
site.portal_registration.addMember(name, params["password"], ("Member",))
user_id = site.acl_users.getUserById(name).getId()
response = HTTPResponse()
site.acl_users.session._setupSession(user_id, response)
transaction.commit()
ring = getUtility(IKeyManager)["_forms"]
tokens = [hmac.new(key.encode(), name.encode(), hashlib.sha1).hexdigest() for key in ring if key]
print(json.dumps({"ticket": unquote(response.cookies["__ac"]["value"]), "tokens": tokens}))
"""


def stored_requests(raw):
    """The pickles of the StoredRequest records in a raw Data.fs (each up to the next record's)."""
    found, start = [], 0
    name = b"netsight.asynchronous.stored\nStoredRequest"
    while (start := raw.find(name, start)) != -1:
        end = raw.find(b"\x80\x03c", start + len(name))  # the next record's class pickle
        found.append(raw[start : end if end != -1 else len(raw)])
        start += len(name)
    return found


def streamed(client, url):
    """GET ``url`` as ``client``, reading the body a chunk at a time: (status, headers, length, sha256)."""
    request = urllib.request.Request(url, headers=client.headers)
    sha, size = hashlib.sha256(), 0
    with client.opener.open(request, timeout=client.timeout) as response:
        while chunk := response.read(1 << 16):
            sha.update(chunk)
            size += len(chunk)
        return response.status, response.headers, size, sha.hexdigest()


def result_heading(response):
    """The text of the steady view's ``<h1 id='result'>`` (the page went through Plone's transforms)."""
    headings = lxml.html.fromstring(response.body).xpath("//h1[@id='result']")
    assert len(headings) == 1, response.text[:500]
    return headings[0].text_content()


def steps_of(number):
    """The steps of the burst's job ``number``: 1 to 3, so that each result says which it is."""
    return 1 + number % 3
