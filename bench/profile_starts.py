"""Where an instance's time goes while a burst of starts arrives: py-spy's samples of it, summed (issue 26).

    .venv/bin/python bench/profile_starts.py [--jobs 1000] [--rate 100] [--top 20] [--package-source DIR]

The set-up is bench/compare.py's "one instance, ZEO" (a ZEO server, one
instance with ``pool-size 2``, the Plone site, the no-op job
``bench-noop``). Two jobs hold the pool's threads (so that the starts
queue, as compare.py's start cost measures them), and ``--jobs`` jobs are
started from compare.py's clients at once, twice: recorded with ``py-spy
record --idle`` (every thread, waiting or not) and without (the threads
that run). Printed: the starts a second of each burst, the wall clock of
each group of threads, the request threads' and the maintenance thread's
top functions by own and by cumulative time (wall clock), every thread's
by CPU, and the request threads' time by line of ``view._begin`` and of
``transactions._together`` (the records' turn). py-spy must be installed
(``.venv/bin/pip install py-spy``) and the user allowed to trace the
instance (root, or ``ptrace_scope`` 0).
"""

from pathlib import Path

from netsight.asynchronous.tests.helpers.instances import Cluster
from profile_drain import parse
from profile_drain import percent
from profile_drain import PY_SPY
from profile_drain import recording
from profile_drain import site_instance
from profile_drain import source_line
from profile_drain import steps
from profile_drain import top
from systems import OwnQueue

import argparse
import measures
import shutil
import sys
import tempfile
import time


def burst(system, jobs, record):
    """Start ``jobs`` jobs at once, the pool held, py-spy recording (``record``: its arguments); starts a second."""
    try:
        with recording(system.instance.pid, record):
            system.hold()
            began = time.monotonic()
            ids = measures.start_many(system, jobs)
            seconds = time.monotonic() - began
    finally:
        system.release()
    session = system.web.session()
    try:
        measures.wait_ended(system, session, ids[-1], timeout=600)  # the queue drained before the next burst
    finally:
        session.close()
    return jobs / seconds


def tops(title, samples, count):
    """The lines of ``samples``' top ``count`` functions, by own and by cumulative time."""
    total = sum(sample.count for sample in samples)
    own, cumulative = top(samples, count)
    lines = [f"{title}, {total} samples: the top {count} by own time"]
    lines += [f"  {percent(samples_of, total)}  {name}" for name, samples_of in own]
    lines += [f"{title}: the top {count} by cumulative time"]
    lines += [f"  {percent(samples_of, total)}  {name}" for name, samples_of in cumulative]
    return lines


def report(idle, active, rate, count, jobs):
    """The findings, from the ``idle`` (wall clock) and ``active`` (CPU) recordings."""
    lines = ["Wall clock of each group of threads (py-spy --idle), in samples:"]
    groups = {}
    for sample in idle:
        groups[sample.group] = groups.get(sample.group, 0) + sample.count
    lines += [f"  {group:40} {samples:7}" for group, samples in sorted(groups.items(), key=lambda item: -item[1])]
    requests = [sample for sample in idle if sample.group.startswith("waitress")]
    maintenance = [sample for sample in idle if sample.group.startswith("maintenance")]
    for title, subset in (
        ("The request threads, wall clock", requests),
        ("The maintenance thread, wall clock", maintenance),
        ("All threads, CPU (py-spy without --idle)", active),
    ):
        lines += ["", *tops(title, subset, count)]
    total = sum(sample.count for sample in requests)
    for function, file_part in (("BaseAsyncView._begin", "asynchronous/view.py"),
                                ("_together", "asynchronous/transactions.py")):
        found = steps(requests, function, file_part)
        lines += ["", f"The request threads, by line of {function} (of their {total} samples):"]
        for (path, line), (samples, _zeo, _commit) in sorted(found.items(), key=lambda item: -item[1][0])[:12]:
            lines.append(f"  {percent(samples, total)} {1000 * samples / rate / jobs:6.2f} ms a start"
                         f"  line {line}: {source_line(path, line)}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="starts of each burst (default 1000)")
    parser.add_argument("--rate", type=int, default=100, help="py-spy's samples a second (default 100)")
    parser.add_argument("--top", type=int, default=20, help="functions in each top list (default 20)")
    parser.add_argument("--package-source", help="a directory with the package's src/ and demo/src/ for the "
                        "instance to run (default: the checkout's)")
    args = parser.parse_args()
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} is missing: .venv/bin/pip install py-spy")
    directory = Path(tempfile.mkdtemp(prefix="netsight-async-bench-profile-starts-"))
    cluster = Cluster("netsight-async-bench-profile-starts")
    try:
        _zeo, instance, marks = site_instance(cluster, directory, args.package_source)
        system = OwnQueue("one instance, ZEO", instance, marks)
        system.hold()  # warm-up: the templates, the trees' first loads
        measures.start_many(system, min(args.jobs, 100))
        system.release()
        rates, recorded = {}, {}
        for key, extra in (("idle", ["--idle"]), ("active", [])):
            print(f"{args.jobs} starts, py-spy {' '.join(extra)} ...", file=sys.stderr)
            output = directory / f"{key}.txt"
            rates[key] = burst(system, args.jobs, [*extra, "--rate", str(args.rate), "-o", str(output)])
            recorded[key] = parse(output)
    finally:
        cluster.close()
    print(f"bench/profile_starts.py {' '.join(sys.argv[1:])}")
    print(f"bursts of {args.jobs} starts: {rates['idle']:.1f} starts/s with py-spy --idle, "
          f"{rates['active']:.1f} with py-spy (active threads only)\n")
    print(report(recorded["idle"], recorded["active"], args.rate, args.top, args.jobs))
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
