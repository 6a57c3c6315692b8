"""RQ on Debian's redis-server, for bench/compare.py: its forking Worker and its SimpleWorker.

One worker instance with a concurrency of 2 is ``rq worker-pool -n 2``:
two workers of the class (``rq.worker.Worker`` forks a child per job,
``rq.worker.SimpleWorker`` runs it in the worker's process).
"""

from importlib.metadata import version

import common
import os
import redis
import rq
import sys


QUEUE = "bench"
WORKERS = {"Worker": "rq.worker.Worker", "SimpleWorker": "rq.worker.SimpleWorker"}
STATES = {
    "queued": "queued",
    "deferred": "queued",
    "scheduled": "queued",
    "started": "running",
    "finished": "done",
    "failed": "failed",
    "stopped": "failed",
    "canceled": "failed",
}

_connection = None


def connection():
    global _connection
    if _connection is None:
        _connection = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    return _connection


def queue():
    return rq.Queue(QUEUE, connection=connection())


def prepare():
    connection().flushdb()


def start_job():
    return queue().enqueue(common.job).id


def state(job_id):
    try:
        job = rq.job.Job.fetch(job_id, connection=connection())
    except rq.exceptions.NoSuchJobError:
        return "unknown"
    return STATES.get(job.get_status(refresh=False), "queued")


def result(job_id):
    try:
        return rq.job.Job.fetch(job_id, connection=connection()).return_value()
    except rq.exceptions.NoSuchJobError:
        return None


def commit_one():
    connection().set("bench:trace", "last")


def worker_argv(variant):
    worker = WORKERS[variant or "Worker"]
    return [os.path.join(os.path.dirname(sys.executable), "rq"), "worker-pool", "-n", "2", "-w", worker, "-q",
            "-u", os.environ["BENCH_REDIS_URL"], QUEUE]


def versions():
    return f"rq {version('rq')}, redis-py {version('redis')}"


if __name__ == "__main__":
    common.main("rq_peer")
