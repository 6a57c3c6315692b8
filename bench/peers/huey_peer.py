"""Huey on Debian's redis-server, for bench/compare.py: its consumer with two worker threads.

Huey keeps no state of a task but its result: a job without a result in
the result store is "queued" (running included); its result is kept
(``preserve``) until the run's end.
"""

from huey import RedisHuey
from huey.exceptions import TaskException
from importlib.metadata import version

import common
import os
import sys


huey = RedisHuey("bench", url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"))


@huey.task()
def noop():
    return common.job()


def prepare():
    huey.flush()


def start_job():
    return noop().id


def _result(job_id):
    try:
        return huey.result(job_id, preserve=True)
    except TaskException:
        return TaskException


def state(job_id):
    found = _result(job_id)
    if found is TaskException:
        return "failed"
    return "queued" if found is None else "done"


def result(job_id):
    found = _result(job_id)
    return None if found is TaskException else found


def commit_one():
    huey.put("trace", "last")


def worker_argv(variant):
    consumer = os.path.join(os.path.dirname(sys.executable), "huey_consumer")
    return [consumer, "huey_peer.huey", "--workers", "2", "--worker-type", "thread", "--quiet"]


def versions():
    return f"huey {version('huey')}"


if __name__ == "__main__":
    common.main("huey_peer")
