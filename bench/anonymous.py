"""What anonymous starts cost a real instance: its memory with queued bodies, and its Data.fs per process.

    .venv/bin/python bench/anonymous.py [--starts 60] [--size 1000000] [--records 40]

It runs one Zope instance (runwsgi, a FileStorage with a blob directory,
the test fixture tests/helpers/instances.py) with the Plone site /plone, and the
caps on anonymous starts switched off (``max-per-address 0``,
``queue-limit 0``, ``anonymous-queue-limit 0``) so that every start is
taken, as before they existed:

memory
    --starts anonymous cookie-less POSTs to ``steady`` (steps=1,
    delay=120: the first two run, the others wait in the queue) with a
    form of --size bytes; the instance's VmRSS (``/proc/<pid>/status``)
    before (after 4 such jobs of delay 0, done: the code is loaded) and
    once all were answered.
database
    --records anonymous starts of ``steady`` (steps=1, delay=0), each
    waited for, not fetched: the Data.fs's growth per process.

Run it against another checkout with ``PYTHONPATH=<its src>`` (the
instance inherits the environment) to compare.
"""

from pathlib import Path
from urllib.parse import urlencode

import argparse
import json
import os
import sys
import time


sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from netsight.asynchronous.tests.helpers.instances import Client  # noqa: E402
from netsight.asynchronous.tests.helpers.instances import Cluster  # noqa: E402


def rss(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start(url, size, delay):
    body = urlencode({"steps": "1", "delay": str(delay), "padding": "x" * size}).encode("ascii")
    response = Client().post(url, body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 303, (response.status, response.text[:300])
    return response.location.rpartition("process_id=")[2]


def wait_done(url, process_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = Client().get(f"{url}/completed?output_json=1&process_id={process_id}").json()
        if answer["state"] not in ("queued", "running"):
            return answer
        time.sleep(0.05)
    raise RuntimeError(f"{process_id} not done in {timeout}s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=60)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=40)
    options = parser.parse_args()
    cluster = Cluster("bench-anonymous")
    try:
        instance = cluster.instance(
            product_config={
                "max-per-address": "0", "queue-limit": "0", "anonymous-queue-limit": "0", "pool-size": "2",
            },
        )
        instance.create_site("/plone")
        instance.start()
        url = f"{instance.url}/plone/@@steady"
        pid = instance.pid
        data_fs = Path(instance.storage_path())
        # database: Data.fs bytes per anonymous process, done and kept
        for process_id in [start(url, 0, 0) for _ in range(2)]:
            wait_done(url, process_id)
        before = data_fs.stat().st_size
        for _ in range(options.records):
            wait_done(url, start(url, 0, 0))
        per_record = (data_fs.stat().st_size - before) / options.records
        # memory: queued bodies
        for process_id in [start(url, options.size, 0) for _ in range(4)]:
            wait_done(url, process_id)
        rss_before = rss(pid)
        for _ in range(options.starts):
            start(url, options.size, 120)  # queued by the start's after-commit hook, before its answer
        rss_after = rss(pid)
        print(
            json.dumps(
                {
                    "code": os.environ.get("PYTHONPATH", "this checkout"),
                    "starts": options.starts,
                    "body bytes": options.size,
                    "rss before MB": round(rss_before / 1e6, 1),
                    "rss after MB": round(rss_after / 1e6, 1),
                    "rss growth MB": round((rss_after - rss_before) / 1e6, 1),
                    "Data.fs bytes per anonymous process": round(per_record),
                },
                indent=1,
            )
        )
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
