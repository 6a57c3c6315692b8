"""Procrastinate on the throwaway PostgreSQL of tests/postgres.py, for bench/compare.py: a worker of concurrency 2.

The web app defers with the synchronous connector (a pool of psycopg
connections); the worker listens for its jobs (LISTEN/NOTIFY).
Procrastinate keeps no return value: the result of a job is "done" once
its row says succeeded.
"""

from importlib.metadata import version

import common
import os
import procrastinate
import psycopg
import sys


QUEUE = "bench"
DSN = os.environ.get("BENCH_DSN", "")
STATES = {"todo": "queued", "doing": "running", "succeeded": "done"}

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))


@app.task(name="noop", queue=QUEUE)
def noop():
    return common.job()


_opened = False


def opened():
    """The app, opened for synchronous use (once a process)."""
    global _opened
    if not _opened:
        app.open()
        _opened = True
    return app


def sql(query, *params):
    """One statement in a short transaction of the app's connector's pool; the rows, if any."""
    with opened().connector.get_sync_connector().pool.connection() as connection:
        cursor = connection.execute(query, params)
        return cursor.fetchall() if cursor.description else None


def prepare():
    with psycopg.connect(DSN, autocommit=True) as connection:
        if connection.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None:
            connection.execute(app.schema_manager.get_schema())
        connection.execute("CREATE TABLE IF NOT EXISTS bench_trace (id int PRIMARY KEY, last text)")
        connection.execute("INSERT INTO bench_trace VALUES (1, '') ON CONFLICT DO NOTHING")
        connection.execute("TRUNCATE procrastinate_jobs CASCADE")


def start_job():
    return noop.defer()


def state(job_id):
    rows = sql("SELECT status FROM procrastinate_jobs WHERE id = %s", int(job_id))
    if not rows:
        return "unknown"
    return STATES.get(rows[0][0], "failed")


def result(job_id):
    return "done" if state(job_id) == "done" else None


def commit_one():
    sql("UPDATE bench_trace SET last = 'last' WHERE id = 1")


def worker_argv(variant):
    command = os.path.join(os.path.dirname(sys.executable), "procrastinate")
    return [command, "--app=procrastinate_peer.app", "worker", "--concurrency=2", f"--queues={QUEUE}"]


def versions():
    return f"procrastinate {version('procrastinate')}, psycopg {version('psycopg')}"


if __name__ == "__main__":
    common.main("procrastinate_peer")
