"""Where an instance's CPU goes in the end to end: py-spy's samples of it, summed (issue 26).

    .venv/bin/python bench/profile_end_to_end.py [--jobs 1000] [--clients 20] [--zeo]
                                                 [--rate 200] [--top 25] [--package-source DIR] [--keep FILE]

The set-up is bench/compare.py's "one instance, FileStorage" (``--zeo``:
"one instance, ZEO"): one instance with ``pool-size 2``, the Plone site,
the no-op job ``bench-noop``. After a warm-up of 300 jobs, two runs of
compare.py's end to end (``--jobs`` jobs from ``--clients`` clients, each
started, polled every 0.2 s until it ended, its result fetched): one
without the profiler, one recorded with ``py-spy record --gil`` (only the
thread that holds the GIL: where the CPU goes in a process whose threads
take turns at it). Each run's CPU a job is the instance's user and system
time (``/proc/<pid>/stat``) over its jobs done.

Printed: each run's jobs a second and CPU a job; the CPU's share of each
group of threads; the top ``--top`` functions by own time, by cumulative
time, and the package's own functions by cumulative time. py-spy must be
installed (``.venv/bin/pip install py-spy``) and the user allowed to
trace the instance (root, or ``ptrace_scope`` 0). ``--keep FILE`` keeps
py-spy's raw stacks there.
"""

from collections import Counter
from netsight.asynchronous.tests.helpers.instances import Cluster
from pathlib import Path
from profile_drain import parse
from profile_drain import percent
from profile_drain import PY_SPY
from profile_drain import recording
from profile_drain import short
from profile_drain import top
from systems import instance_environment
from systems import OwnQueue
from systems import PRODUCT_CONFIG
from systems import SITE
from systems import ZCML

import argparse
import measures
import os
import shutil
import sys
import tempfile


WARM_UP = 300  # jobs end to end before the runs: the templates, the trees' first loads


def cpu_seconds(pid):
    """The user and system time of process ``pid`` so far (``/proc/<pid>/stat``), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(system, pid, jobs, clients, record=None):
    """One end to end, recorded by py-spy if ``record`` (its arguments): ``(jobs/s, done, CPU ms a job)``."""
    with recording(pid, record):
        before = cpu_seconds(pid)
        figures = measures.end_to_end(system, jobs, clients)
        used = cpu_seconds(pid) - before
    return figures.rate, figures.done, 1000 * used / max(figures.done, 1)


# The parts of a job's end to end: a sample goes to the first part it is in, a part being a
# ``(function, file part)`` pair of which one must be in the sample's stack, and, where it gives
# one more, a pair that must be there too (a function None: any function of such a file).
PARTS = (
    ("short transactions (the starts' records, the ends, the takes, the beats)",
     (("in_own_transaction", "asynchronous/transactions.py"), ("Writer._run", "asynchronous/behind.py"))),
    ("a job's own publication: traversal and security",
     (("BaseRequest.traverse", "ZPublisher/"),), ("_publish", "asynchronous/worker.py")),
    ("a job's own publication: the rest (the view, its transaction)", (("_publish", "asynchronous/worker.py"),)),
    ("the job threads: the rest (hand-over, a job's start and end)", (("Pool._work", "asynchronous/pool.py"),)),
    ("the maintenance thread (claims, heartbeat)", (("Maintenance.run", "asynchronous/maintenance.py"),)),
    ("requests: the starts' view", (("BaseAsyncView.__call__", "asynchronous/view.py"),)),
    ("requests: the polls' view", (("StatusPages.completed", "asynchronous/pages.py"),)),
    ("requests: the fetches' view", (("StatusPages.result", "asynchronous/pages.py"),)),
    ("requests: authentication (PAS)", (("BaseRequest.traverse", "ZPublisher/"),), (None, "PluggableAuthService/")),
    ("requests: the site's before-traverse hooks", (("MultiHook.__call__", "ZPublisher/BeforeTraverse.py"),)),
    ("requests: the rest of traversal", (("BaseRequest.traverse", "ZPublisher/"),)),
    ("requests: transforms (plone.transformchain)", (("applyTransformOnSuccess", "transformchain/"),)),
    ("requests: their transaction (begin, commit, publication events)",
     (("transaction_pubevents", "ZPublisher/WSGIPublisher.py"),)),
    ("requests: the rest (waitress's task, the request, the response)",
     (("ThreadedTaskDispatcher.handler_thread", "waitress/"),)),
    ("waitress's loop (HTTP input and output)", ((None, "waitress/"),)),
)


def has(sample, function, file_part):
    """Whether ``sample``'s stack has a frame of ``function`` (None: any) in a file whose path has ``file_part``."""
    return any((function is None or name == function) and file_part in path for name, path, _line in sample.frames)


def part_of(sample):
    """The name of the first of PARTS that ``sample`` is in, or "other"."""
    for name, any_of, *also in PARTS:
        if any(has(sample, *pair) for pair in any_of) and all(has(sample, *pair) for pair in also):
            return name
    return "other (stacks that py-spy read only in part)"


def report(samples, count, cpu=None):
    """The findings of the ``--gil`` recording: the CPU by group of threads, by part, the top functions;
    ``cpu``: the instance's CPU a job (ms), to give each part's share in ms too."""
    total = sum(sample.count for sample in samples)
    lines = [f"The instance's CPU (py-spy --gil), {total} samples, by group of threads:"]
    groups = Counter()
    for sample in samples:
        groups[sample.group] += sample.count
    lines += [f"  {percent(samples_of, total)}  {group}" for group, samples_of in groups.most_common()]
    parts = Counter()
    for sample in samples:
        parts[part_of(sample)] += sample.count
    lines += ["", "By part of a job's end to end" + (" (and its CPU a job):" if cpu else ":")]
    order = [part[0] for part in PARTS] + ["other (stacks that py-spy read only in part)"]
    for name, samples_of in sorted(parts.items(), key=lambda item: order.index(item[0])):
        ms = f"  {cpu * samples_of / total:5.2f} ms" if cpu and total else ""
        lines.append(f"  {percent(samples_of, total)}{ms}  {name}")
    own, cumulative = top(samples, count)
    lines += ["", f"The top {count} by own time:"]
    lines += [f"  {percent(samples_of, total)}  {name}" for name, samples_of in own]
    lines += ["", f"The top {count} by cumulative time:"]
    lines += [f"  {percent(samples_of, total)}  {name}" for name, samples_of in cumulative]
    package = Counter()
    for sample in samples:
        for name in {short(frame) for frame in sample.frames if "/netsight/asynchronous/" in frame[1]}:
            package[name] += sample.count
    lines += ["", f"The package's own top {count} by cumulative time:"]
    lines += [f"  {percent(samples_of, total)}  {name}" for name, samples_of in package.most_common(count)]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs of each run (default 1000)")
    parser.add_argument("--clients", type=int, default=20, help="the clients (default 20)")
    parser.add_argument("--zeo", action="store_true", help="the instance on a ZEO server (default: a FileStorage)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy's samples a second (default 200)")
    parser.add_argument("--top", type=int, default=25, help="functions in each top list (default 25)")
    parser.add_argument("--package-source", help="a directory with the package's src/ and demo/src/ for the "
                        "instance to run (default: the checkout's)")
    parser.add_argument("--keep", type=Path, help="a file to keep py-spy's raw stacks in")
    args = parser.parse_args()
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} is missing: .venv/bin/pip install py-spy")
    directory = Path(tempfile.mkdtemp(prefix="netsight-async-bench-profile-end-to-end-"))
    stacks = args.keep or directory / "stacks.txt"
    cluster = Cluster("netsight-async-bench-profile-end-to-end")
    try:
        zeo = None
        if args.zeo:
            zeo = cluster.zeo_server()
            zeo.start()
        marks = str(directory / "marks")
        instance_environment(marks, args.package_source)
        instance = cluster.instance(product_config=PRODUCT_CONFIG, zcml=ZCML, zeo=zeo)
        print("creating the site ...", file=sys.stderr)
        instance.create_site(SITE)
        instance.start()
        system = OwnQueue("one instance, ZEO" if args.zeo else "one instance, FileStorage", instance, marks)
        pid = instance.pid
        measures.end_to_end(system, WARM_UP, args.clients)
        print(f"{args.jobs} jobs end to end, without the profiler ...", file=sys.stderr)
        plain = run(system, pid, args.jobs, args.clients)
        print(f"{args.jobs} jobs end to end, py-spy --gil ...", file=sys.stderr)
        recorded = run(system, pid, args.jobs, args.clients,
                       ["--gil", "--rate", str(args.rate), "-o", str(stacks)])
        samples = parse(stacks)
    finally:
        cluster.close()
        shutil.rmtree(directory, ignore_errors=True)  # the stacks too, unless --keep put them elsewhere
    print(f"bench/profile_end_to_end.py {' '.join(sys.argv[1:])}")
    for title, (rate, done, cpu) in (("without the profiler", plain), ("py-spy --gil", recorded)):
        print(f"{title}: {rate:.1f} jobs/s, {done} done of {args.jobs}, {cpu:.2f} ms of the instance's CPU a job")
    print()
    print(report(samples, args.top, recorded[2]))  # ms a job: the recorded run's CPU, whose samples these are


if __name__ == "__main__":
    main()
