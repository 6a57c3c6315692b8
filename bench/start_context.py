"""What a start on a front-end costs by what came before it: a job that ran on the worker, or a start the front-end cancelled.

    .venv/bin/python bench/start_context.py [--starts 300]

bench/scheduled.py's cluster (a ZEO server, a worker A with the default
``pool-size`` 2, a front-end F with ``pool-size 0``, the Plone site, a
Member's session, the tests' view ``later``). --starts starts on F, each
of a kind drawn at random (a fixed seed): today's, a scheduled one (an
hour ahead; cancelled afterwards) or a prioritized one (priority 50);
each job that runs is waited for and fetched, untimed, before the next
start. Each start's time (POST to 303) is kept by its kind and by the
kind of the start before it: the medians, how many, and their ratio to
the same kind's after a start of today's (whose job ran).

It shows why bench/scheduled.py puts an untimed start whose job ran
before each timed start: on F, what came before a start weighs more
than its kind (a job that ran on A makes F load the records' and the
indexes' buckets again; its own cancel does not).
"""

from report import machine
from report import Row
from report import table

import argparse
import collections
import heavy
import random
import scheduled
import statistics
import sys


KINDS = {
    "today's start": {},
    "scheduled start (an hour ahead)": {"seconds": "3600"},
    "prioritized start (priority 50)": {"priority": "50"},
}
SEED = 1


def run(starts=300):
    """Start the servers, measure, stop them; the rows of the table."""
    with scheduled.worker_and_front_end("netsight-async-bench-start-context") as (sides, _db):
        front_end = sides[1]
        for _number in range(5):  # warm-up
            for form in KINDS.values():
                front_end.start(form)
        times, before, draw = collections.defaultdict(list), "today's start", random.Random(SEED)
        heavy.say(f"{starts} starts on the front-end...")
        for _number in range(starts):
            kind = draw.choice(list(KINDS))
            times[before, kind].append(front_end.start(KINDS[kind]))
            before = kind
    rows, first = [], next(iter(KINDS))
    for kind in KINDS:
        base = statistics.median(times[first, kind]) if times[first, kind] else None
        for before in KINDS:
            seconds = times[before, kind]
            if seconds:
                median = statistics.median(seconds)
                rows.append(Row(
                    f"{kind} on a front-end, after a {before} ({len(seconds)})",
                    f"{median * 1000:.2f} ms",
                    "" if before == first or base is None else f"{base * 1000:.2f} ms after a {first}",
                    None if before == first or base is None else median / base,
                ))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=300, help="starts on the front-end (default 300)")
    args = parser.parse_args()
    heavy.stop_on_sigterm()
    rows = run(args.starts)
    print(f"\nbench/start_context.py {' '.join(sys.argv[1:])}: a start by what came before it ({machine()})")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
