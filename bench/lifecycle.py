"""What the lifecycle costs and how soon it tells: the heartbeat's writes, and
the time from a stopped or killed instance to ERROR on the other one.

    .venv/bin/python bench/lifecycle.py [--window 60] [--heartbeat-interval 10]
                                        [--heartbeat-timeout 60] [--sigterms 3]

It starts a ZEO server and two Zope instances A and B on it (runwsgi,
tests/helpers/instances.py), creates the Plone site /plone, and runs jobs on A as
the site's Member; B watches them through ``completed?...&output_json=1``
(the processing page's poll), every 50 ms.

Heartbeat: a job that writes nothing while it runs (``steady`` with
``numeric=0``: it only sleeps) keeps A beating; the ZEO server's Data.fs
grows by A's heartbeats only. Its size is read at the start and at the end
of ``--window`` seconds; afterwards the Data.fs (read once the servers
stopped) says which transactions fell in the window and what they wrote.
A beat's size is the growth over the window divided by the heartbeats in
it (when nothing else was written); the rate per hour is that size times
the beats of an hour (3600 / interval; at an interval other than the
default 10 s, also scaled to 10 s: 360 beats).

SIGKILL: the job still running, A is killed. Nothing runs in A: B reads the
job ``interrupted`` (``completed`` "ERROR") once A's last heartbeat is more
than ``heartbeat-timeout`` old, i.e. after timeout - (kill - last beat),
between timeout - interval and timeout (plus B's poll); the last beat's
time comes from the Data.fs.

SIGTERM: A is started again, runs a job, and gets SIGTERM; its handler
marks the job interrupted at once, B reads ERROR at its next poll.
"""

from urllib.parse import parse_qs
from urllib.parse import urlsplit
from ZODB.FileStorage import FileStorage
from ZODB.TimeStamp import TimeStamp
from ZODB.utils import get_pickle_metadata

from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import wait_until

import argparse
import os
import platform
import signal
import statistics
import sys
import time


SITE = "/plone"
POLL = 0.05  # seconds between two polls of B, as the fixture's
DEADLINE = 120  # seconds for what takes a few
INSTANCE_RECORD = "netsight.asynchronous.registry.InstanceRecord"
DEFAULT_INTERVAL = 10.0


class Watcher:
    """Starts jobs on A, watches them on B."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.client = Client(*MEMBER)

    def start(self, **form):
        token = self.client.token(f"{self.a.url}{SITE}/@@own-template")
        response = self.client.post(f"{self.a.url}{SITE}/@@steady", {"_authenticator": token, **form})
        assert response.status == 303, (response.status, response.text[:300])
        location = urlsplit(response.location)
        self.view_path = location.path.rsplit("/", 1)[0]
        return parse_qs(location.query)["process_id"][0]

    def status(self, process_id):
        url = f"{self.b.url}{self.view_path}/completed?process_id={process_id}&output_json=1"
        response = self.client.get(url)
        return response.json() if response.status == 200 else {"state": f"HTTP {response.status}"}

    def wait_running(self, process_id):
        wait_until(lambda: self.status(process_id)["state"] == "running", DEADLINE, "the job running on B")

    def seconds_to_error(self, process_id, since, timeout):
        """Poll B until ``completed`` is "ERROR"; seconds from ``since`` (monotonic)."""
        deadline = since + timeout
        while True:
            answer = self.status(process_id)
            now = time.monotonic()
            if answer.get("completed") == "ERROR":
                assert answer["state"] == "interrupted", answer
                return now - since
            if now > deadline:
                raise AssertionError(f"no ERROR on B within {timeout}s: {answer}")
            time.sleep(POLL)


def transactions(path, start, end):
    """``[(time, size, classes)]`` of the transactions of the FileStorage at
    ``path`` committed between the epoch times ``start`` and ``end``."""
    storage = FileStorage(str(path), read_only=True)
    try:
        found = []
        for txn in storage.iterator():
            when = TimeStamp(txn.tid).timeTime()
            if not start <= when <= end:
                continue
            classes = []
            for record in txn:
                module, name = get_pickle_metadata(record.data)
                classes.append(f"{module}.{name}")
            found.append((when, classes))
        return found
    finally:
        storage.close()


def last_beat_before(path, when):
    """The epoch time of the last heartbeat committed before ``when``."""
    beats = [at for at, classes in transactions(path, 0, when) if INSTANCE_RECORD in classes]
    return max(beats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=60, help="seconds of heartbeats measured (default 60)")
    parser.add_argument("--heartbeat-interval", type=float, default=DEFAULT_INTERVAL, help="default 10")
    parser.add_argument("--heartbeat-timeout", type=float, default=60, help="default 60")
    parser.add_argument("--sigterms", type=int, default=3, help="SIGTERM runs (default 3)")
    args = parser.parse_args()
    interval, timeout = args.heartbeat_interval, args.heartbeat_timeout
    config = {"heartbeat-interval": str(interval), "heartbeat-timeout": str(timeout)}

    began = time.monotonic()
    cluster = Cluster("netsight-async-bench-lifecycle")
    try:
        zeo = cluster.zeo_server()
        zeo.start()
        a, b = (cluster.instance(zeo=zeo, product_config=config) for _ in range(2))
        a.create_site(SITE)
        a.start()
        b.start()
        data_fs = zeo.storage_path()
        watcher = Watcher(a, b)

        # (a) The heartbeat: a job that only sleeps, long enough for the window and the kill.
        job_length = args.window + timeout + 4 * interval + 60
        process_id = watcher.start(steps="1", delay=str(job_length / 2), numeric="0")
        watcher.wait_running(process_id)
        time.sleep(interval + 1)  # the measure: past the job's start and first beat
        size0, start = os.path.getsize(data_fs), time.time()
        time.sleep(args.window)  # the measure
        size1, end = os.path.getsize(data_fs), time.time()

        # (b) SIGKILL, the job still running.
        killed_at = time.time()
        killed = time.monotonic()
        a.kill()
        kill_seconds = watcher.seconds_to_error(process_id, killed, timeout + interval + 30)

        # SIGTERM, on A started again.
        term_seconds = []
        for _ in range(args.sigterms):
            a.start()
            process_id = watcher.start(steps="1", delay="60", numeric="0")
            watcher.wait_running(process_id)
            sent = time.monotonic()
            a.process.send(signal.SIGTERM)
            term_seconds.append(watcher.seconds_to_error(process_id, sent, 30))
            assert a.process.wait(30), "A did not end after SIGTERM"

        for instance in (a, b):
            instance.stop()
        zeo.stop()
        window = transactions(data_fs, start, end)
        last_beat = last_beat_before(data_fs, killed_at)
    finally:
        cluster.close()

    beats = [at for at, classes in window if classes == [INSTANCE_RECORD]]
    others = [classes for _at, classes in window if classes != [INSTANCE_RECORD]]
    growth = size1 - size0
    seconds = end - start
    per_beat = growth / len(beats) if beats and not others else float("nan")
    apart = (beats[-1] - beats[0]) / (len(beats) - 1) if len(beats) > 1 else float("nan")
    per_hour = per_beat * 3600 / interval
    since_beat = killed_at - last_beat

    rows = [
        ("heartbeat: Data.fs growth", f"{growth} bytes in {seconds:.1f} s, {len(window)} transactions"),
        (
            "heartbeat: transactions",
            f"{len(beats)} heartbeats (one InstanceRecord each, {apart:.2f} s apart), {len(others)} other",
        ),
        ("heartbeat: bytes per beat", f"{per_beat:.0f}"),
        (
            f"heartbeat: per hour, interval {interval:g} s",
            f"{per_hour / 1024:.1f} KiB ({per_beat:.0f} bytes x {3600 / interval:.0f} beats)",
        ),
    ]
    if interval != DEFAULT_INTERVAL:
        rows.append(
            (
                "heartbeat: per hour, scaled to 10 s",
                f"{per_beat * 3600 / DEFAULT_INTERVAL / 1024:.1f} KiB ({per_beat:.0f} bytes x 360 beats)",
            )
        )
    rows += [
        (
            f"SIGKILL -> ERROR on B (timeout {timeout:g} s)",
            f"{kill_seconds:.2f} s (last beat {since_beat:.2f} s before the kill: "
            f"timeout - {since_beat:.2f} = {timeout - since_beat:.2f} s)",
        ),
        (
            f"SIGTERM -> ERROR on B ({len(term_seconds)} runs)",
            f"median {statistics.median(term_seconds):.2f} s "
            f"(min {min(term_seconds):.2f}, max {max(term_seconds):.2f})",
        ),
    ]
    width = max(len(name) for name, _value in rows)
    print(
        f"\nThe lifecycle: 2 instances on one ZEO server, heartbeat-interval {interval:g} s, "
        f"heartbeat-timeout {timeout:g} s; B polls every {POLL * 1000:.0f} ms"
    )
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}")
    print("=" * width + "  " + "=" * 60)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("=" * width + "  " + "=" * 60)
    print(f"(the run took {time.monotonic() - began:.0f} s)")
    if others:
        print("Other transactions in the window:", others, file=sys.stderr)


if __name__ == "__main__":
    main()
