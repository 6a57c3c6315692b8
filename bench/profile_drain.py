"""Where a worker's time goes while it drains jobs: py-spy's samples of the worker, summed (issue 26).

    .venv/bin/python bench/profile_drain.py [--jobs 1000] [--rate 100] [--top 15]
                                            [--own-queue | --relstorage] [--package-source DIR] [--keep DIR]

The set-up is bench/compare.py's "front-end to a worker, ZEO": a ZEO
server, a worker instance (``pool-size 2``) and a front-end (``pool-size
0``), the Plone site, the no-op job ``bench-noop``. Each drain queues
``--jobs`` jobs on the front-end while the worker is stopped, starts the
worker, and ends when the last job is done (bench/measures.py's drain,
its rate from the first job's first line to the last). With
``--own-queue``, compare.py's "one instance, ZEO" instead: the jobs are
started on the worker itself while two jobs hold its pool's threads, and
the drain begins when they are let go (py-spy attaches before). With
``--relstorage``, compare.py's "one instance, RelStorage": the same, on a
throwaway PostgreSQL (its transactions a job are not counted). Three drains, one
after the other: one without the profiler (its rate is the reference),
one recorded with ``py-spy record --idle`` (every thread, waiting or not:
where the wall-clock time goes) and one with ``--gil`` (only the thread
that holds the GIL: where the CPU goes in a process whose threads take
turns at the GIL; without it, py-spy counts a thread that waits for the
GIL, after a system call, as running). py-spy attaches as soon as the worker
answers HTTP, samples ``--rate`` times a second without stopping the
process (``--nonblocking``), and is stopped (SIGINT) when the last job
began. py-spy must be installed (``.venv/bin/pip install py-spy``) and
the user allowed to trace the worker (root, or ``ptrace_scope`` 0).

Printed, as text: the drains' rates and the transactions committed a
job (counted in the ZEO server's Data.fs, read only); the wall-clock samples of each
thread group; the job threads' time by step of ``worker.run`` and the
maintenance thread's by step of ``claims.claim_queued`` and of its pass (each with its share
waiting for the ZEO server and its share in a transaction's commit);
the ZEO server's round trips by call; the top ``--top`` functions by
own time and by cumulative time (all threads, CPU; the job threads,
wall clock). ``--keep DIR`` keeps py-spy's raw stacks there
(``flamegraph.pl`` or speedscope read them); ``--stacks DIR`` prints the
findings of stacks kept so, without a drain.
"""

from collections import Counter
from collections import defaultdict
from pathlib import Path

from netsight.asynchronous.tests.helpers.instances import Cluster
from systems import FrontEnd
from systems import instance_environment
from systems import OwnQueue
from systems import PEERS
from systems import PRODUCT_CONFIG
from systems import relstorage_instance
from systems import SITE
from systems import ZCML

import argparse
import contextlib
import linecache
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


sys.path.insert(0, str(PEERS))  # bench_marks, for measures

import measures  # noqa: E402  (after the path to bench_marks)


PY_SPY = Path(sys.executable).parent / "py-spy"
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
THREAD = re.compile(r"^thread \((?P<tid>[^)]*)\)(?:: (?P<name>.*))?$")
GROUPS = (  # a thread's group, by its name: the first pattern that matches
    ("job threads", re.compile(r"^netsight\.async-[0-9a-f]{32}$")),
    ("maintenance (claims, heartbeat)", re.compile(r"^netsight\.async maintenance")),
    ("waitress (HTTP)", re.compile(r"^waitress")),
    ("main thread (waitress's loop)", re.compile(r"^MainThread$")),
    ("ZEO client's I/O thread", re.compile(r"zeo client networking thread")),
)
ZEO_LOCK = "tpc_begin"  # waits for the client's one commit at a time (ClientStorage._commit_lock), not for the server
ZEO_COMMIT = {"store", "storeBlob", "tpc_vote", "tpc_finish", "tpc_abort", "checkCurrentSerialInTransaction"}


class Sample:
    """One stack that py-spy saw ``count`` times: its thread's name and its frames, outermost first."""

    __slots__ = ("thread", "frames", "count")

    def __init__(self, thread, frames, count):
        self.thread = thread
        self.frames = frames  # (function, file, line)
        self.count = count

    @property
    def group(self):
        for name, pattern in GROUPS:
            if pattern.search(self.thread or ""):
                return name
        return f"other ({self.thread})" if self.thread else "other"

    def first(self, predicate):
        return next((frame for frame in self.frames if predicate(frame)), None)

    def zeo_call(self):
        """The ClientStorage method this stack waits in, if it is in the ZEO client's code."""
        frame = self.first(lambda frame: frame[1].endswith("ZEO/ClientStorage.py"))
        if frame is not None:
            return frame[0].rsplit(".", 1)[-1]
        if any("/ZEO/" in path for _f, path, _line in self.frames):
            return "(ZEO client, other)"
        return None

    def in_commit(self):
        return any(f.endswith("Transaction.commit") and "transaction/" in path for f, path, _l in self.frames)


def parse(path):
    """py-spy's raw output (``--format raw --threads``): its Samples."""
    samples = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        parts = stack.split(";")
        thread = None
        match = THREAD.match(parts[0])
        if match:
            thread = match.group("name") or match.group("tid")
            parts = parts[1:]
            if parts and not FRAME.match(parts[0]):  # py-spy puts the thread's name as a frame of its own
                thread = parts[0]
                parts = parts[1:]
        frames = []
        for part in parts:
            found = FRAME.match(part)
            if found:
                frames.append((found.group("function"), found.group("file"), int(found.group("line") or 0)))
            else:
                frames.append((part, "", 0))
        samples.append(Sample(thread, tuple(frames), int(count)))
    return samples


def short(frame):
    """``function (file)``: a function's name, without its line, with its file's last two parts."""
    function, path, _line = frame
    tail = "/".join(Path(path).parts[-2:]) if path else "?"
    return f"{function} ({tail})"


def top(samples, count):
    """The ``count`` functions with most own samples, and those with most cumulative samples."""
    own, cumulative = Counter(), Counter()
    for sample in samples:
        if not sample.frames:
            continue
        own[short(sample.frames[-1])] += sample.count
        for name in {short(frame) for frame in sample.frames}:
            cumulative[name] += sample.count
    return own.most_common(count), cumulative.most_common(count)


def steps(samples, function, file_part):
    """The samples under ``function`` (of a file whose path has ``file_part``), by the line it was at:
    ``{line: [samples, waiting on ZEO, in a commit]}``; lines are ``function``'s own."""
    found = defaultdict(lambda: [0, 0, 0])
    for sample in samples:
        for index, (name, path, line) in enumerate(sample.frames):
            if name == function and file_part in path:
                counts = found[(path, line)]
                counts[0] += sample.count
                if sample.zeo_call() is not None:
                    counts[1] += sample.count
                if sample.in_commit():
                    counts[2] += sample.count
                break
    return found


def source_line(path, line):
    text = linecache.getline(path, line).strip()
    return text if len(text) <= 90 else text[:87] + "..."


def percent(part, whole):
    return f"{100 * part / whole:5.1f} %" if whole else "    - "


def report(idle, active, rate, top_count, job_count):
    """The text of the findings, from the ``idle`` (wall clock) and ``active`` (CPU) recordings."""
    lines = []
    say = lines.append
    per_thread = Counter()
    for sample in idle:
        per_thread[sample.thread] += sample.count
    wall = max(per_thread.values())  # samples of a thread that was there all along (waitress's loop)
    say(f"Wall clock (py-spy --idle, {wall / rate:.1f} s at {rate} samples/s: {wall} samples a thread):")
    by_group = Counter()
    threads = defaultdict(set)
    for sample in idle:
        by_group[sample.group] += sample.count
        threads[sample.group].add(sample.thread)
    for group, count in by_group.most_common():
        say(f"  {group:40} {len(threads[group]):3} threads {count:7} samples  "
            f"{count / wall:5.2f} threads busy or waiting")
    job_samples = [sample for sample in idle if sample.group == "job threads"]
    job_total = sum(sample.count for sample in job_samples)
    for title, subset, function, file_part in (
        ("The job threads, by step of worker.run", job_samples, "run", "asynchronous/worker.py"),
        ("The job threads, by step of Pool._work", job_samples, "Pool._work", "asynchronous/pool.py"),
        ("The maintenance thread, by step of claims.claim_queued",
         [s for s in idle if s.group.startswith("maintenance")], "claim_queued", "asynchronous/claims.py"),
        ("The maintenance thread, by step of its pass",
         [s for s in idle if s.group.startswith("maintenance")], "Maintenance._pass_over", "asynchronous/"),
    ):
        total = sum(sample.count for sample in subset)
        found = steps(subset, function, file_part)
        if not found:
            continue
        say("")
        say(f"{title} (of the group's {total} samples; ZEO: in the ZEO client, its commit lock or a call to the "
            "server; commit: in a commit):")
        for (path, line), (count, zeo, commit) in sorted(found.items(), key=lambda item: -item[1][0]):
            say(f"  {percent(count, total)} {1000 * count / rate / job_count:6.1f} ms a job  ZEO {percent(zeo, count)}"
                f"  commit {percent(commit, count)}  line {line}: {source_line(path, line)}")
    say("")
    say(f"The job threads' ZEO calls (of their {job_total} samples):")
    zeo = Counter()
    for sample in job_samples:
        call = sample.zeo_call()
        if call is not None:
            zeo[call] += sample.count
    for call, count in zeo.most_common():
        kind = (
            "waits for the worker's other commit" if call == ZEO_LOCK
            else "commit, round trip" if call in ZEO_COMMIT
            else "read, round trip unless cached" if call.startswith("load")
            else ""
        )
        say(f"  {percent(count, job_total)} {1000 * count / rate / job_count:6.1f} ms a job  {call}: {kind}")
    commit = sum(sample.count for sample in job_samples if sample.in_commit())
    say(f"  in all: ZEO {percent(sum(zeo.values()), job_total)}, in a commit {percent(commit, job_total)}")
    writers = [sample for sample in idle if sample.group == "job threads" or sample.group.startswith("maintenance")]
    waiting = sum(sample.count for sample in writers if sample.zeo_call() == ZEO_LOCK)
    held = sum(sample.count for sample in writers if sample.in_commit() and sample.zeo_call() != ZEO_LOCK)
    say("")
    say(f"The ZEO client's commit lock (one commit at a time, ClientStorage.tpc_begin to its end), job threads and "
        f"maintenance: held {held / wall:.2f} of the time, {waiting / wall:.2f} threads waiting for it on average")
    for title, subset in (
        ("All threads, CPU (py-spy --gil: the thread holding the GIL)", active),
        ("The job threads, wall clock (py-spy --idle)", job_samples),
    ):
        total = sum(sample.count for sample in subset)
        own, cumulative = top(subset, top_count)
        say("")
        say(f"{title}, {total} samples: the top {top_count} by own time")
        for name, count in own:
            say(f"  {percent(count, total)}  {name}")
        say(f"{title}: the top {top_count} by cumulative time")
        for name, count in cumulative:
            say(f"  {percent(count, total)}  {name}")
    return "\n".join(lines)


def commits(storage_path, began, ended):
    """How many transactions the FileStorage at ``storage_path`` committed from ``began`` to ``ended`` (times)."""
    from ZODB.FileStorage import FileStorage
    from ZODB.TimeStamp import TimeStamp

    storage = FileStorage(str(storage_path), read_only=True)
    try:
        return sum(1 for txn in storage.iterator() if began <= TimeStamp(txn.tid).timeTime() <= ended)
    finally:
        storage.close()


@contextlib.contextmanager
def recording(pid, record):
    """py-spy records the process ``pid`` while the block runs (``record``: py-spy's
    arguments and its output file); nothing is recorded if ``record`` is None."""
    if record is None:
        yield
        return
    spy = subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(pid), "--format", "raw", "--threads",
         "--nonblocking", "--full-filenames", "--duration", "3600", *record],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        _out, errors = spy.communicate(timeout=120)
        if spy.returncode not in (0, -signal.SIGINT):
            print(errors.decode(errors="replace"), file=sys.stderr)


def site_instance(cluster, directory, package_source):
    """compare.py's set-up of one instance: a ZEO server, and an instance (``pool-size 2``,
    the bench's jobs marking in ``directory``) with the Plone site, started; ``(zeo, instance, marks)``."""
    zeo = cluster.zeo_server()
    zeo.start()
    marks = str(directory / "marks")
    instance_environment(marks, package_source)
    instance = cluster.instance(product_config=PRODUCT_CONFIG, zcml=ZCML, zeo=zeo)
    print("creating the site ...", file=sys.stderr)
    instance.create_site(SITE)
    instance.start()
    return zeo, instance, marks


def relstorage_site_instance(cluster, directory, package_source):
    """compare.py's set-up of one instance on RelStorage: a throwaway PostgreSQL and the instance
    with the Plone site, started; ``(postgresql, instance, marks)``."""
    from netsight.asynchronous.tests.helpers.postgres import PostgreSQL

    postgresql = PostgreSQL("netsight-async-bench-profile-postgresql")
    postgresql.start()
    marks = str(directory / "marks")
    instance_environment(marks, package_source)
    instance = relstorage_instance(cluster, postgresql.create_database("zodb"))
    print("creating the site ...", file=sys.stderr)
    instance.create_site(SITE)
    instance.start()
    return postgresql, instance, marks


def drain(system, jobs, record=None):
    """One drain of ``jobs`` jobs (bench/measures.py's, with its rate); with ``record`` (py-spy's arguments
    and its output file), py-spy records the worker from its start to the last job's first line."""
    offset = system.marks_size()
    system.hold()  # the worker stopped, or its pool's threads held
    ids = measures.start_many(system, jobs)
    began_at = time.time()
    own_queue = isinstance(system, OwnQueue)
    worker = system.instance if own_queue else system.worker
    if not own_queue:
        system.release()  # the worker started: it answers HTTP
    began = time.monotonic()
    with recording(worker.pid, record):
        if own_queue:
            if record is not None:
                time.sleep(1)  # py-spy attached (no outcome waits on this: it only shortens the samples' start)
            system.release()  # the holds end: the pool's threads take the queued jobs
        times = measures.wait_marks(system, offset, jobs, measures.DEADLINE)
    seconds = time.monotonic() - began
    session = system.web.session()
    try:
        measures.wait_ended(system, session, ids[-1])  # before the next drain stops the worker
    finally:
        session.close()
    rate = (jobs - 1) / (times[-1] - times[0]) if times[-1] > times[0] else float("nan")
    return rate, seconds, (began_at, time.time())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs of each drain (default 1000)")
    parser.add_argument("--rate", type=int, default=100, help="py-spy's samples a second (default 100)")
    parser.add_argument("--top", type=int, default=15, help="functions in each top list (default 15)")
    parser.add_argument("--own-queue", action="store_true", help="one instance draining its own queue "
                        "(compare.py's 'one instance, ZEO') instead of a worker fed by a front-end")
    parser.add_argument("--relstorage", action="store_true", help="one instance on RelStorage draining its own "
                        "queue (compare.py's 'one instance, RelStorage')")
    parser.add_argument("--package-source", help="a directory with the package's src/ and demo/src/ for the "
                        "instances to run (default: the checkout's)")
    parser.add_argument("--keep", type=Path, help="a directory to keep py-spy's raw stacks in")
    parser.add_argument("--stacks", type=Path, help="no drain: the findings of the stacks that --keep kept there "
                        "(with the same --jobs and --rate)")
    args = parser.parse_args()
    if args.stacks:
        idle, active = (parse(args.stacks / f"drain-{key}.txt") for key in ("idle", "active"))
        print(report(idle, active, args.rate, args.top, args.jobs))
        return
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} is missing: .venv/bin/pip install py-spy")
    directory = Path(tempfile.mkdtemp(prefix="netsight-async-bench-profile-"))
    cluster = Cluster("netsight-async-bench-profile")
    postgresql = None
    try:
        if args.relstorage:
            zeo = None
            postgresql, worker, marks = relstorage_site_instance(cluster, directory, args.package_source)
            system = OwnQueue("one instance, RelStorage", worker, marks)
        elif args.own_queue:
            zeo, worker, marks = site_instance(cluster, directory, args.package_source)
            system = OwnQueue("one instance, ZEO", worker, marks)
        else:
            zeo, worker, marks = site_instance(cluster, directory, args.package_source)
            front_end = cluster.instance(zeo=zeo, zcml=ZCML, product_config={**PRODUCT_CONFIG, "pool-size": "0"})
            front_end.start()
            system = FrontEnd("front-end to a worker, ZEO", front_end, worker, marks)
        drain(system, min(args.jobs, 100))  # warm-up: the front-end's templates, the trees' first loads
        print(f"drain of {args.jobs} jobs, no profiler ...", file=sys.stderr)
        plain_rate, _seconds, window = drain(system, args.jobs)
        per_job = None if zeo is None else commits(zeo.storage_path(), *window) / args.jobs
        recorded = {}
        for key, extra in (("idle", ["--idle"]), ("active", ["--gil"])):
            print(f"drain of {args.jobs} jobs, py-spy {' '.join(extra)} ...", file=sys.stderr)
            output = directory / f"{key}.txt"
            rate, seconds, _window = drain(system, args.jobs, [*extra, "--rate", str(args.rate), "-o", str(output)])
            recorded[key] = (parse(output), rate, seconds)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(output, args.keep / f"drain-{key}.txt")
    finally:
        cluster.close()
        if postgresql is not None:
            postgresql.close()
    idle, idle_rate, _seconds = recorded["idle"]
    active, active_rate, _seconds = recorded["active"]
    print(f"bench/profile_drain.py {' '.join(sys.argv[1:])}")
    print(f"drains of {args.jobs} jobs: {plain_rate:.1f} jobs/s without the profiler, {idle_rate:.1f} with py-spy "
          f"--idle, {active_rate:.1f} with py-spy --gil (the thread that holds the GIL only)"
          + ("" if per_job is None else f"; {per_job:.2f} transactions committed a job (the storage's, from the "
             "worker's start to the last job's end, without the profiler)") + "\n")
    print(report(idle, active, args.rate, args.top, args.jobs))
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
