"""``make bench``: the heavy jobs (bench/heavy.py), scheduled and prioritized starts (bench/scheduled.py) and the
latency and the bar's lag (bench/latency.py), in one table; then the package beside its peers (bench/compare.py).

    .venv/bin/python bench/all.py [heavy.py's options] [--scheduled-rounds 24] [--due 40]
                                  [--latency-jobs 24] [--latency-concurrency 4] [--latency-max-delay 8]
                                  [--no-peers] [--peer-jobs 1000] [--peer-systems rq,huey,...]

The heavy run starts its ZEO servers and Zope instances, measures, and
stops them; so does bench/scheduled.py's ``run()`` (its starts side by
side with today's, and the claim latency of due jobs); then
bench/latency.py's ``run()`` sets up its Chromium test
layer in this process and measures how soon the result is shown and how
far the bar trails the stored progress. One table: measure, figure,
baseline, ratio, goal, and whether the goal is met (the latency's own
tables, with the figures of its three pages, follow). Then, unless
--no-peers, bench/compare.py's ``run()``: the package's four set-ups
beside RQ, Procrastinate, Django Tasks and Huey (--peer-jobs jobs for a
drain and end to end, from --clients clients), and its tables.
"""

from compare import PACKAGE
from compare import PEER_KEYS
from compare import run as compare_run
from latency import lag_table
from latency import run as latency_run
from latency import table as latency_table
from report import machine
from report import Row
from report import table

import argparse
import heavy
import logging
import scheduled
import sys
import time
import traceback


LATENCY_GOAL = 1.0  # seconds: the p95 from a job's end to its result shown
LAG_GOAL = 2.0  # seconds: the bar's worst lag behind the stored progress (issue 24: "about 2 s")
FIXED_POLLS = "steady-fixed-polls"  # the 2011 page (a poll every 5 s), the latency's baseline


def latency_rows(figures):
    """Rows of latency.run()'s figures: its first page (the processing page as it is) against the 2011 page."""
    pages = [row for row in figures if row["view"]]
    new = pages[0]
    old = next((row for row in pages if row["view"] == FIXED_POLLS), pages[-1])
    p95, old_p95 = new["latency_p95"], old["latency_p95"]
    return [
        Row(
            "result shown after the job ends, p95",
            f"{p95:.2f} s",
            f"{old_p95:.2f} s {old['page']}",
            p95 / old_p95,
            f"<= {LATENCY_GOAL:g} s",
            p95 <= LATENCY_GOAL,
        ),
        Row(
            "result shown after the job ends, median",
            f"{new['latency_median']:.2f} s",
            f"{old['latency_median']:.2f} s {old['page']}",
            new["latency_median"] / old["latency_median"],
        ),
        Row(
            "polls per job, median",
            f"{new['polls_median']:g}",
            f"{old['polls_median']:g} {old['page']}",
            new["polls_median"] / old["polls_median"],
        ),
        Row(
            "bar's lag behind the stored progress, worst",
            f"{new['lag_worst']:.2f} s",
            f"{old['lag_worst']:.2f} s {old['page']}",
            new["lag_worst"] / old["lag_worst"] if old["lag_worst"] else float("nan"),
            f"<= {LAG_GOAL:g} s",
            new["lag_worst"] <= LAG_GOAL,
        ),
        Row(
            "bar's lag behind the stored progress, median",
            f"{new['lag_median']:.2f} s",
            f"{old['lag_median']:.2f} s {old['page']}",
            new["lag_median"] / old["lag_median"] if old["lag_median"] else float("nan"),
        ),
    ]


def main():
    parser = heavy.arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--scheduled-rounds", type=int, default=24, help="bench/scheduled.py --rounds (default 24)")
    parser.add_argument("--due", type=int, default=40, help="its --due (default 40)")
    parser.add_argument("--latency-jobs", type=int, default=24, help="bench/latency.py --jobs (default 24)")
    parser.add_argument("--latency-concurrency", type=int, default=4, help="its --concurrency (default 4)")
    parser.add_argument("--latency-max-delay", type=float, default=8.0, help="its --max-delay (default 8)")
    parser.add_argument("--no-peers", action="store_true", help="leave out bench/compare.py (the peers)")
    parser.add_argument("--peer-jobs", type=int, default=1000, help="bench/compare.py --jobs (default 1000)")
    parser.add_argument("--peer-systems", default=",".join(PACKAGE + PEER_KEYS), help="its --systems (default all)")
    args = parser.parse_args()
    heavy.stop_on_sigterm()
    logging.basicConfig(level=logging.ERROR)
    began = time.monotonic()
    rows = heavy.run(args.rounds, args.jobs, args.clients, args.big, args.registry)
    rows += scheduled.run(args.scheduled_rounds, args.due)
    figures = latency(args)
    command = " ".join(["bench/all.py", *sys.argv[1:]])
    print(f"\n{command}: {machine()}; {time.monotonic() - began:.0f} s")
    if figures is None:
        print(table(rows + [Row("result shown after the job ends, p95", "failed (see above)", goal="<= 1 s")]))
        sys.exit(1)
    print(table(rows + latency_rows(figures)))
    print(f"\nThe latency (bench/latency.py, {args.latency_jobs} jobs a page):")
    print(latency_table(figures))
    print("\nThe bar's lag behind the stored progress, and the polls:")
    print(lag_table(figures))
    if not args.no_peers:
        systems = tuple(key.strip() for key in args.peer_systems.split(",") if key.strip())
        print(f"\n{compare_run(jobs=args.peer_jobs, clients=args.clients, systems=systems)}")


def latency(args):
    """latency.run()'s figures, or None if it failed (its traceback on stderr): the heavy table is printed all the same."""
    heavy.say("the latency: bench/latency.py's run() ...")
    try:
        return latency_run(
            jobs=args.latency_jobs, concurrency=args.latency_concurrency, max_delay=args.latency_max_delay, quiet=False
        )
    except Exception:
        traceback.print_exc()
        return None


if __name__ == "__main__":
    main()
