"""The package beside the task queues people choose instead (RQ, Procrastinate, Django Tasks, Huey), on this machine, in one run.

    .venv/bin/python bench/compare.py [--jobs 1000] [--clients 20] [--samples 20]
                                      [--rounds 3] [--systems rq,filestorage,...]
                                      [--package-source DIR]

The peers run in .venv-bench (bench/peers/requirements.txt; ``make
bench`` makes it), each started and stopped here with the servers they
need: Debian's redis-server (RQ, Huey), a throwaway PostgreSQL of
tests/helpers/postgres.py (Procrastinate, Django Tasks with django-tasks-db, and
the package's RelStorage). The package runs as four set-ups of real Zope
instances (tests/helpers/instances.py): one instance with its own FileStorage;
one on a ZEO server; one on RelStorage with PostgreSQL; a front-end
(pool-size 0) whose jobs a worker instance on the same ZEO server claims.
Every instance has pool-size 2 and waitress's 4 threads, as every peer's
web app (waitress, 4 threads) and worker (a concurrency of 2) has. The job
is the same everywhere: it appends its first line's time to a file and
returns "done". bench/measures.py says what each measure is.

Printed: the figures of every system, the goals (met or not), and the
ratios of each of the package's set-ups to each peer.
"""

from pathlib import Path

from netsight.asynchronous.tests.helpers.instances import Cluster
from report import grid
from report import machine
from report import Row
from report import table
from systems import BENCH_PYTHON
from systems import FrontEnd
from systems import instance_environment
from systems import OwnQueue
from systems import Peer
from systems import PEERS
from systems import PRODUCT_CONFIG
from systems import Redis
from systems import redis_version
from systems import relstorage_instance
from systems import SITE
from systems import ZCML

import argparse
import contextlib
import importlib.metadata
import itertools
import re
import shutil
import statistics
import sys
import tempfile
import time


sys.path.insert(0, str(PEERS))  # bench_marks, for measures

import measures  # noqa: E402  (after the path to bench_marks)


PACKAGE = ("filestorage", "zeo", "frontend", "relstorage")
PEER_KEYS = ("rq", "rq-simple", "procrastinate", "django", "huey")
NAMES = {
    "filestorage": "package: one instance, FileStorage",
    "zeo": "package: one instance, ZEO",
    "frontend": "package: front-end to a worker, ZEO",
    "relstorage": "package: one instance, RelStorage",
    "rq": "RQ Worker",
    "rq-simple": "RQ SimpleWorker",
    "procrastinate": "Procrastinate",
    "django": "Django Tasks (django-tasks-db)",
    "huey": "Huey",
}
PICKUP_GOALS = {"frontend": 0.250}  # seconds, p95; the others: ONE_INSTANCE_PICKUP
ONE_INSTANCE_PICKUP = 0.050
END_TO_END_GOAL = 0.3  # of the same set-up's committing POST rate
FASTEST_PEER_SHARE = 0.5
LOG_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d ")  # a line of an instance's log that begins an entry
ENTRY_LINES = 60  # lines of a traceback printed at most


def say(text):
    print(text, file=sys.stderr, flush=True)


class Figures:
    """What was measured of one system."""

    def __init__(self, name):
        self.name = name
        self.rates = self.drain = self.pickups = self.end_to_end = self.null_jobs = None

    @property
    def pickup_median(self):
        return statistics.median(self.pickups)

    @property
    def pickup_p95(self):
        return measures.percentile(self.pickups, 0.95)


def measure(system, figures, args, rates_first=True):
    """The five measures of a system with a worker running or ready to start, in an order that leaves none a backlog."""
    if rates_first:
        say(f"{system.name}: start cost (wrk) ...")
        figures.rates = measures.start_cost(system, args.rounds)
    say(f"{system.name}: drain of {args.jobs} jobs ...")
    figures.drain = measures.drain(system, args.jobs, system.deadline)
    say(f"{system.name}: pickup, {args.samples} jobs ...")
    figures.pickups = measures.pickup(system, args.samples)
    say(f"{system.name}: end to end, {args.jobs} jobs, {args.clients} clients ...")
    figures.end_to_end = measures.end_to_end(system, args.jobs, args.clients, system.deadline)
    say(f"{system.name}: null jobs, {args.jobs}, {args.clients} clients ...")
    figures.null_jobs = measures.null_jobs(system, args.jobs, args.clients)
    say(f"{system.name}: {summary(figures)}")


def summary(figures):
    parts = []
    if figures.rates:
        rates = figures.rates
        parts.append(f"POST/s plain {rates.plain:.0f}{rates.errors('plain')}, committing {rates.commit:.0f}"
                     f"{rates.errors('commit')}, start {rates.start:.0f}{rates.errors('start')}")
    if figures.drain:
        parts.append(f"drain {figures.drain.rate:.1f} jobs/s")
    if figures.pickups:
        parts.append(f"pickup {figures.pickup_median * 1000:.0f}/{figures.pickup_p95 * 1000:.0f} ms")
    if figures.end_to_end:
        run = figures.end_to_end
        parts.append(f"end to end {run.rate:.1f} jobs/s, {run.done} done, {len(run.lost)} lost {run.lost[:3]}")
    if figures.null_jobs:
        parts.append(f"null jobs {figures.null_jobs:.1f}/s")
    return "; ".join(parts)


def log_errors(figures, *instances):
    """Where a request answered an error, the instances' last logged errors, for the operator (on stderr)."""
    rates = figures.rates
    if rates is None or not any(errors for _requests, errors in rates.sent.values()):
        return
    for instance in instances:
        with contextlib.suppress(OSError):
            lines = Path(instance.log).read_text().splitlines()
            errors = [index for index, line in enumerate(lines) if " ERROR " in line]
            say(f"{figures.name}: {len(errors)} errors logged by {instance.what}; the last, whole:\n"
                + "\n".join(last_entry(lines, errors[-1]) if errors else []))


def last_entry(lines, first):
    """The log entry that begins at ``lines[first]``: that line and the lines of its traceback (until the next entry)."""
    rest = itertools.takewhile(lambda line: not LOG_ENTRY.match(line), lines[first + 1 : first + 1 + ENTRY_LINES])
    return [lines[first], *rest]


def wait_backlog(system):
    """Wait for the jobs the start cost queued: one more job, started last, ends after them."""
    session = system.web.session()
    try:
        job_id = system.web.start(session)
        measures.wait_ended(system, session, job_id, every=0.5, timeout=3600)
    finally:
        session.close()


# The package's set-ups.


def package_instance(cluster, marks, args, **options):
    instance_environment(marks, args.package_source)
    return cluster.instance(product_config=PRODUCT_CONFIG, zcml=ZCML, **options)


def run_own(key, instance, marks, args, found):
    figures = found[key] = Figures(NAMES[key])
    system = OwnQueue(NAMES[key], instance, marks)
    say(f"{system.name}: start cost (wrk) ...")
    figures.rates = measures.start_cost(system, args.rounds)
    wait_backlog(system)
    measure(system, figures, args, rates_first=False)
    log_errors(figures, instance)


def run_filestorage(directory, args, found, servers):
    cluster = Cluster("netsight-async-bench-compare")
    try:
        marks = str(directory / "filestorage.marks")
        instance = package_instance(cluster, marks, args)
        say("the FileStorage instance: creating the site ...")
        instance.create_site(SITE)
        instance.start()
        run_own("filestorage", instance, marks, args, found)
    finally:
        cluster.close()


def run_zeo(directory, args, found, servers, keys):
    cluster = Cluster("netsight-async-bench-compare")
    try:
        zeo = cluster.zeo_server()
        zeo.start()
        marks = str(directory / "zeo.marks")
        worker = package_instance(cluster, marks, args, zeo=zeo)
        front_end = cluster.instance(zeo=zeo, zcml=ZCML, product_config={**PRODUCT_CONFIG, "pool-size": "0"})
        say("the ZEO instances: creating the site ...")
        worker.create_site(SITE)
        worker.start()
        front_end.start()
        if "zeo" in keys:
            run_own("zeo", worker, marks, args, found)
        if "frontend" in keys:
            figures = found["frontend"] = Figures(NAMES["frontend"])
            system = FrontEnd(NAMES["frontend"], front_end, worker, marks)
            measure_front_end(system, figures, args)
            log_errors(figures, front_end, worker)
    finally:
        cluster.close()


def measure_front_end(system, figures, args):
    """Pickup and end to end with the worker running; the drain; the start cost with the worker stopped."""
    say(f"{system.name}: pickup, {args.samples} jobs ...")
    figures.pickups = measures.pickup(system, args.samples)
    say(f"{system.name}: end to end, {args.jobs} jobs, {args.clients} clients (at most {system.deadline} s) ...")
    figures.end_to_end = measures.end_to_end(system, args.jobs, args.clients, system.deadline)
    say(f"{system.name}: drain of {args.jobs} jobs (at most {system.deadline} s) ...")
    figures.drain = measures.drain(system, args.jobs, system.deadline)
    system.hold()  # the worker stopped: the starts queue in the database, nothing drains them meanwhile
    say(f"{system.name}: start cost (wrk) ...")
    figures.rates = measures.start_cost(system, args.rounds)
    say(f"{system.name}: null jobs, {args.jobs}, {args.clients} clients ...")
    figures.null_jobs = measures.null_jobs(system, args.jobs, args.clients)  # the front-end's requests: no worker needed
    say(f"{system.name}: {summary(figures)}")


def run_relstorage(directory, args, found, servers):
    cluster = Cluster("netsight-async-bench-compare")
    try:
        dsn = servers.postgresql().create_database("zodb")
        marks = str(directory / "relstorage.marks")
        instance_environment(marks, args.package_source)
        instance = relstorage_instance(cluster, dsn)
        say("the RelStorage instance: creating the site ...")
        instance.create_site(SITE)
        instance.start()
        run_own("relstorage", instance, marks, args, found)
    finally:
        cluster.close()


# The peers.


def run_peer(key, directory, args, found, servers, versions):
    figures = found[key] = Figures(NAMES[key])
    env, module, variant = peer_setup(key, servers)
    system = Peer(NAMES[key], module, directory, variant, **env)
    try:
        versions[module] = system.versions()
        say(f"{system.name}: start cost (wrk), no worker running ...")
        figures.rates = measures.start_cost(system, args.rounds)
        system.empty()
        measure(system, figures, args, rates_first=False)
    finally:
        system.close()


def peer_setup(key, servers):
    """The environment, module and worker variant of a peer."""
    if key in ("rq", "rq-simple"):
        env = {"BENCH_REDIS_URL": servers.redis().url(0)}
        return env, "rq_peer.py", "Worker" if key == "rq" else "SimpleWorker"
    if key == "huey":
        return {"BENCH_REDIS_URL": servers.redis().url(1)}, "huey_peer.py", None
    if key == "procrastinate":
        return {"BENCH_DSN": servers.database("procrastinate")}, "procrastinate_peer.py", None
    if key == "django":
        return {"BENCH_DSN": servers.database("django")}, "django_tasks_peer.py", None
    raise ValueError(key)


class Servers:
    """Redis and PostgreSQL, started when a system first needs them, stopped at the end."""

    def __init__(self, directory):
        self.directory = directory
        self._redis = self._postgresql = None
        self.databases = {}

    def redis(self):
        if self._redis is None:
            self._redis = Redis(self.directory / "redis")
            self._redis.start()
        return self._redis

    def postgresql(self):
        if self._postgresql is None:
            from netsight.asynchronous.tests.helpers.postgres import PostgreSQL

            self._postgresql = PostgreSQL("netsight-async-bench-compare-postgresql")
            self._postgresql.start()
        return self._postgresql

    def database(self, name):
        """A DSN of a new database ``name`` (once)."""
        if name not in self.databases:
            self.databases[name] = self.postgresql().create_database(name)
        return self.databases[name]

    def postgresql_version(self):
        if self._postgresql is None:
            return None
        return self._postgresql.bin.parent.name

    def close(self):
        if self._redis is not None:
            self._redis.stop()
        if self._postgresql is not None:
            self._postgresql.close()


# The tables.


def systems_table(found):
    header = ["system", "plain POST/s", "committing POST/s", "start POST/s", "drain jobs/s", "pickup median",
              "pickup p95", "end to end jobs/s", "end to end done/lost", "null jobs/s"]
    lines = []
    for figures in found.values():
        rates, drain, run = figures.rates, figures.drain, figures.end_to_end
        lines.append([
            figures.name,
            f"{rates.plain:.0f}{rates.errors('plain')}" if rates else "",
            f"{rates.commit:.0f}{rates.errors('commit')}" if rates else "",
            f"{rates.start:.0f}{rates.errors('start')}" if rates else "",
            f"{drain.rate:.1f}" + (f" ({drain.began} in {drain.seconds:.0f} s)" if drain.cut else "") if drain else "",
            f"{figures.pickup_median * 1000:.0f} ms" if figures.pickups else "",
            f"{figures.pickup_p95 * 1000:.0f} ms" if figures.pickups else "",
            f"{run.rate:.1f}" if run else "",
            (f"{run.done}/{len(run.lost)}" + (f" ({run.unstarted} not started in {run.seconds:.0f} s)"
                                             if run.unstarted else "")) if run else "",
            f"{figures.null_jobs:.1f}" if figures.null_jobs else "",
        ])
    return grid(header, lines)


def goal_rows(found):
    """The goals of issue 26: the drain against RQ's forking Worker and the fastest peer, end to end, pickup."""
    rows = []
    peers = {key: found[key] for key in PEER_KEYS if key in found and found[key].drain}
    fastest = max(peers.values(), key=lambda figures: figures.drain.rate, default=None)
    rq = found.get("rq")
    for key in PACKAGE:
        figures = found.get(key)
        if figures is None:
            continue
        short = figures.name.removeprefix("package: ")
        drain = figures.drain.rate
        if rq is not None and rq.drain:
            rows.append(Row(f"drain, {short}", f"{drain:.1f} jobs/s", f"{rq.drain.rate:.1f}/s RQ Worker",
                            drain / rq.drain.rate, ">= 1", drain >= rq.drain.rate))
        if fastest is not None:
            ratio = drain / fastest.drain.rate
            rows.append(Row(f"drain, {short}", f"{drain:.1f} jobs/s", f"{fastest.drain.rate:.1f}/s {fastest.name}",
                            ratio, f">= {FASTEST_PEER_SHARE:g}", ratio >= FASTEST_PEER_SHARE))
        run, rates = figures.end_to_end, figures.rates
        if rates.plain:  # no goal: a job is one publication of the framework; the plain POST is one, over HTTP
            rows.append(Row(f"drain, {short}", f"{drain:.1f} jobs/s", f"{rates.plain:.0f}/s plain POST",
                            drain / rates.plain))
        ratio = run.rate / rates.commit
        rows.append(Row(f"end to end, {short}", f"{run.rate:.1f} jobs/s, {len(run.lost)} lost",
                        f"{rates.commit:.0f}/s committing POST", ratio, f">= {END_TO_END_GOAL:g}, none lost",
                        ratio >= END_TO_END_GOAL and not run.lost))
        if figures.null_jobs:
            rows.append(Row(f"end to end, {short}", f"{run.rate:.1f} jobs/s", f"{figures.null_jobs:.1f}/s null jobs",
                            run.rate / figures.null_jobs))
        goal = PICKUP_GOALS.get(key, ONE_INSTANCE_PICKUP)
        rows.append(Row(f"pickup p95, {short}", f"{figures.pickup_p95 * 1000:.0f} ms",
                        f"median {figures.pickup_median * 1000:.0f} ms", None, f"<= {goal * 1000:.0f} ms",
                        figures.pickup_p95 <= goal))
    return rows


RATIOS = (
    ("start POST/s", lambda figures: figures.rates.start),
    ("drain jobs/s", lambda figures: figures.drain.rate),
    ("end to end jobs/s", lambda figures: figures.end_to_end.rate),
    ("pickup p95 (lower is better)", lambda figures: figures.pickup_p95),
)


def ratios_table(found):
    """Each of the package's set-ups divided by each peer, measure by measure."""
    peers = [found[key] for key in PEER_KEYS if key in found]
    header = ["package set-up / peer", *(figures.name for figures in peers)]
    lines = []
    for key in PACKAGE:
        if key not in found:
            continue
        for what, figure in RATIOS:
            mine = figure(found[key])
            lines.append([f"{found[key].name.removeprefix('package: ')}: {what}",
                          *(f"{mine / figure(peer):.2f}" if figure(peer) else "" for peer in peers)])
    return grid(header, lines)


def versions_line(versions, servers):
    package = importlib.metadata.version("netsight.async")
    found = [f"netsight.async {package}", f"Zope {importlib.metadata.version('Zope')}",
             f"Products.CMFPlone {importlib.metadata.version('Products.CMFPlone')}"]
    found += versions.values()
    if servers._redis is not None:
        found.append(f"redis-server {redis_version()}")
    if servers.postgresql_version():
        found.append(f"PostgreSQL {servers.postgresql_version()}")
    return ", ".join(found)


# The run.


def run(jobs=1000, clients=20, samples=20, rounds=3, systems=PACKAGE + PEER_KEYS, package_source=None):
    """Measure ``systems``; the text of the tables (the figures, the goals, the ratios).

    ``package_source``: a directory with the package's src/ and demo/src/
    for the instances to run (say, ``git archive HEAD src demo/src``
    unpacked: the committed package while the checkout is being edited).
    """
    if not BENCH_PYTHON.exists() and set(systems) & set(PEER_KEYS):
        raise SystemExit(".venv-bench is missing: make bench makes it (bench/peers/requirements.txt)")
    args = argparse.Namespace(jobs=jobs, clients=clients, samples=samples, rounds=rounds,
                              package_source=package_source)
    directory = Path(tempfile.mkdtemp(prefix="netsight-async-bench-compare-"))
    servers = Servers(directory)
    found, versions = {}, {}
    began = time.monotonic()
    try:
        if "filestorage" in systems:
            run_filestorage(directory, args, found, servers)
        if {"zeo", "frontend"} & set(systems):
            run_zeo(directory, args, found, servers, systems)
        if "relstorage" in systems:
            run_relstorage(directory, args, found, servers)
        for key in PEER_KEYS:
            if key in systems:
                run_peer(key, directory, args, found, servers, versions)
        described = versions_line(versions, servers)
        if package_source is not None:
            described += f" (the package's instances run {package_source})"
    finally:
        servers.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(directory)
    ordered = {key: found[key] for key in (*PACKAGE, *PEER_KEYS) if key in found}
    parts = [f"The package beside its peers ({machine()}; {time.monotonic() - began:.0f} s)\n{described}",
             systems_table(ordered)]
    if set(ordered) & set(PACKAGE):
        parts.append("Goals (issue 26):\n" + table(goal_rows(ordered)))
        if set(ordered) & set(PEER_KEYS):
            parts.append("Ratios, the package's set-up divided by the peer's:\n" + ratios_table(ordered))
    return "\n\n".join(parts)


def arguments(parser):
    parser.add_argument("--jobs", type=int, default=1000, help="jobs of a drain and of end to end (default 1000)")
    parser.add_argument("--clients", type=int, default=20, help="end to end's clients (default 20)")
    parser.add_argument("--samples", type=int, default=20, help="pickups measured (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds of each request (default 3)")
    parser.add_argument("--package-source", help="a directory with the package's src/ and demo/src/ for the "
                        "instances to run (default: the checkout's)")
    parser.add_argument("--systems", default=",".join(PACKAGE + PEER_KEYS),
                        help=f"which, comma-separated (default all: {','.join(PACKAGE + PEER_KEYS)})")
    return parser


def main():
    import heavy

    args = arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0])).parse_args()
    heavy.stop_on_sigterm()
    systems = tuple(key.strip() for key in args.systems.split(",") if key.strip())
    unknown = set(systems) - set(PACKAGE + PEER_KEYS)
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(sorted(unknown))}")
    command = " ".join(["bench/compare.py", *sys.argv[1:]])
    print(f"{command}\n")
    print(run(args.jobs, args.clients, args.samples, args.rounds, systems, args.package_source))


if __name__ == "__main__":
    main()
