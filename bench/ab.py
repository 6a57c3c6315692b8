"""Two versions of the package measured in turns, on the same machine at the same time: A, B, B, A, A, B, ...

    .venv/bin/python bench/ab.py DIR_A DIR_B [--storage filestorage|zeo|relstorage|frontend]
                                 [--measure drain|end-to-end] [--jobs 1000] [--runs 5]

Each DIR holds a version's ``src/`` and ``demo/src/`` (``git archive REV
src demo | tar -x -C DIR``). For each, bench/compare.py's "one instance"
set-up is made once (its own FileStorage, its own ZEO server, or its own
database on one throwaway PostgreSQL; ``frontend``: compare.py's
"front-end to a worker", a ZEO server of its own, a worker and a
front-end, the jobs queued on the front-end while the worker is stopped,
its drain timed from its first job), with the Plone site, and both
instances keep running; then each is measured in turns, ``--runs``
times: a drain of ``--jobs`` jobs (bench/measures.py's drain: 1,000 jobs
queued behind two held ones, the rate from the first job's first line to
the last job's end), or ``--jobs`` jobs end to end (bench/measures.py's:
20 clients each start a job, poll it every 0.2 s and fetch its result;
none may be lost). The machine's load of the moment then weighs on both alike,
which one compare.py run after another cannot promise: on this 2-vCPU
machine two runs of the same code differed by up to 25 %.

Printed: each run's rate (jobs a second), each version's median, and B's
median over A's. A warm-up of 100 jobs each comes first, not counted.
"""

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
import statistics
import sys
import tempfile


sys.path.insert(0, str(PEERS))  # bench_marks, for measures

import measures  # noqa: E402  (after the path to bench_marks)


CLIENTS = 20  # of an end-to-end run, as bench/compare.py's


def instance(cluster, storage, directory, source, postgresql, name):
    """One instance running ``source`` on ``storage``, with the Plone site, started: an OwnQueue
    (``frontend``: a worker and its front-end on one ZEO server, a FrontEnd)."""
    marks = str(directory / f"{name}.marks")
    instance_environment(marks, source)  # the instance's process takes it as it starts
    front_end = None
    if storage == "relstorage":
        made = relstorage_instance(cluster, postgresql.create_database(name), f"relstorage-{name}")
    elif storage in ("zeo", "frontend"):
        zeo = cluster.zeo_server()
        zeo.start()
        made = cluster.instance(product_config=PRODUCT_CONFIG, zcml=ZCML, zeo=zeo)
        if storage == "frontend":  # compare.py's "front-end to a worker, ZEO": the worker runs what the front-end queues
            front_end = cluster.instance(zeo=zeo, zcml=ZCML, product_config={**PRODUCT_CONFIG, "pool-size": "0"})
    else:
        made = cluster.instance(product_config=PRODUCT_CONFIG, zcml=ZCML)
    print(f"{name}: creating the site ...", file=sys.stderr)
    made.create_site(SITE)
    made.start()
    if front_end is None:
        return OwnQueue(f"{name}, one instance, {storage}", made, marks)
    front_end.start()
    system = FrontEnd(f"{name}, front-end to a worker, ZEO", front_end, made, marks)
    system.source = source  # its worker starts again at each drain: with its own environment (``measure``)
    return system


def measure(system, kind, jobs):
    """Jobs a second of one drain or one end-to-end run of ``jobs`` jobs; an end to end that lost one fails."""
    if isinstance(system, FrontEnd):  # its worker starts in this environment (its version's source, its marks)
        instance_environment(system.marks, system.source)
    if kind == "drain":
        return measures.drain(system, jobs).rate
    run = measures.end_to_end(system, jobs, CLIENTS)
    if run.lost or run.done != jobs:
        raise AssertionError(f"{system.name}: {run.done} of {jobs} done, lost: {run.lost[:5]}")
    return run.rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", help="version A's directory (its src/ and demo/src/)")
    parser.add_argument("b", help="version B's directory")
    parser.add_argument("--storage", choices=("filestorage", "zeo", "relstorage", "frontend"), default="zeo")
    parser.add_argument("--measure", choices=("drain", "end-to-end"), default="drain")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs of each run (default 1000)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each version (default 5)")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="netsight-async-bench-ab-"))
    cluster = Cluster("netsight-async-bench-ab")
    postgresql = None
    rates = {"A": [], "B": []}
    try:
        if args.storage == "relstorage":
            from netsight.asynchronous.tests.helpers.postgres import PostgreSQL

            postgresql = PostgreSQL("netsight-async-bench-ab-postgresql")
            postgresql.start()
        systems = {name: instance(cluster, args.storage, directory, source, postgresql, name.lower())
                   for name, source in (("A", args.a), ("B", args.b))}
        for system in systems.values():
            measure(system, args.measure, min(args.jobs, 100))  # warm-up
        for number in range(args.runs):
            # A then B, then B then A: whichever goes second in a round (an A against A went 1.11 times
            # as fast second, in turns always A first) is each version as often.
            order = list(systems.items()) if number % 2 == 0 else list(systems.items())[::-1]
            for name, system in order:
                rate = measure(system, args.measure, args.jobs)
                rates[name].append(rate)
                print(f"{args.measure} {number + 1} of {name}: {rate:.1f} jobs/s", file=sys.stderr)
    finally:
        cluster.close()
        if postgresql is not None:
            postgresql.close()
    a, b = (statistics.median(rates[name]) for name in ("A", "B"))
    print(f"bench/ab.py {' '.join(sys.argv[1:])}")
    for name, source in (("A", args.a), ("B", args.b)):
        print(f"  {name} ({source}): {', '.join(f'{rate:.1f}' for rate in rates[name])} jobs/s, "
              f"median {statistics.median(rates[name]):.1f}")
    print(f"  B / A (medians): {b / a:.2f}")


if __name__ == "__main__":
    main()
