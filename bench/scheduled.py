"""Start later, priorities, queues: what a scheduled, a prioritized and a routed start cost against today's start, and how soon a due job runs.

    .venv/bin/python bench/scheduled.py [--rounds 24] [--due 40]

A ZEO server, a worker A and a front-end F (``pool-size 0``), real
``runwsgi`` processes on 127.0.0.1 (tests/helpers/instances.py), the other
settings their defaults (A: ``pool-size`` 2, ``claim-interval`` 1 s), the
Plone site /plone, a Member's keep-alive sessions (load.py) and the CSRF
token of ``@@own-template`` with every POST. The view is the tests'
``later`` (tests/helpers/views.py): its form's ``seconds`` gives its
``run_after``, its ``priority`` its priority, its ``queue`` its queue;
without them it starts as every view did before (today's start).

start
    The time from the POST to the 303 of a start, on A (a worker: the job
    runs at once) and on F (a front-end: the job is queued in the
    database, and A claims it): today's start (no ``run_after``, priority
    0), a scheduled one (an hour ahead; it is cancelled afterwards, not
    timed), a prioritized one (priority 50) and a routed one (the queue
    "exports", which A serves, as it serves every queue by default: the
    job waits in the store's routed index on F). The eight are measured side
    by side in one run: --rounds rounds, each of them once a round, in a
    new order each round (shuffled, with a fixed seed), so that the noise
    of a shared machine, and what the instances do after a job ended, fall
    on all of them alike; each started job is waited for and fetched before the
    next start (not timed), and each timed start follows an untimed start of
    today's on the same instance whose job ran and was fetched: what came
    before a start weighs more than its kind (see ``starts``). Medians, and
    their ratio to today's start on the same instance. A scheduled start keeps the job's request in the database, as
    a front-end's start does (a worker's start of today keeps it in
    memory): it is also given against today's start on the front-end.
claim latency
    On A and on F, --due jobs scheduled in a burst, due 3 s after the
    burst began and then every 0.29 s, and --due jobs scheduled one by one
    (0.13 s apart), each due 0.1 to 1.1 s after its own start, so that
    their times fall at every phase of the claim interval. Once all are
    done, each record's ``run_after`` and ``started`` (the worker's clock;
    the same machine) are read through a ZEO client of this process: from
    its time to its running. On A, the instance that scheduled the job
    waits for it; a job scheduled on F is learnt of by A's maintenance
    pass, which reads the soonest scheduled time every ``claim-interval``
    (then waits for it exactly): a job due less than that after its start
    on F is the worst case. The p95, the median and the longest; a job
    started before its time is an error.
"""

from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import HOST
from report import machine
from report import Row
from report import table

import argparse
import contextlib
import database
import heavy
import math
import random
import statistics
import sys
import time


SITE = heavy.SITE
VIEW = "later"
KINDS = (
    ("today's start", {}),
    ("scheduled start (an hour ahead)", {"seconds": "3600"}),
    ("prioritized start (priority 50)", {"priority": "50"}),
    ("routed start (queue 'exports')", {"queue": "exports"}),
)
ORDER_SEED = 27  # the rounds' orders: the same in every run
START_GOAL = 1.1  # the issue's: a scheduled or prioritized start costs at most 1.1 x today's
LATENCY_GOAL = 1.0  # seconds: from a due job's time to its running, p95, at the default claim-interval
FIRST_DUE = 3.0  # seconds after its start, a burst's first job is due
DUE_STEP = 0.29  # seconds between two jobs' times: every phase of the claim interval
DEADLINE = 120  # seconds for a burst's job to be done
SOON_MIN = 0.1  # seconds: the soonest a job scheduled "soon" is due after its start
SOON_PACE = 0.13  # seconds between two starts of jobs due soon


class Side:
    """An instance, a Member's session to it, and the token of its POSTs."""

    def __init__(self, instance, zeo, db, name):
        self.name = name
        self.bench = heavy.Bench(instance, zeo, db)  # its HTTP helpers; the database is the run's, closed once

    def close(self):
        self.bench.session.close()
        self.bench.manager.close()

    def start(self, form):
        """One start of ``form``: the seconds from the POST to its 303; then (not timed) the job's end and result,
        or its cancel for a scheduled one."""
        answer = self.bench.start(VIEW, **form)
        process_id = answer.process_id
        if "seconds" in form:
            cancelled = self.bench.session.post(
                f"{SITE}/@@{VIEW}/cancel", {"process_id": process_id, "_authenticator": self.bench.token}
            )
            assert cancelled.status in (200, 303), cancelled
            assert self.bench.wait(VIEW, process_id)["state"] == "cancelled"
        else:
            assert self.bench.wait(VIEW, process_id)["state"] == "done"
            self.bench.fetch(VIEW, process_id)
        return answer.seconds


def starts(sides, rounds):
    """Rows: each kind's start on each side against today's start on the same side, side by side in one
    run; and a scheduled start on a worker against today's start on a front-end (both keep the request).

    A start costs what came before it more than what it is: on a front-end, any start (today's, a
    scheduled or a prioritized one) took some 8 ms after a job that ran on the worker (its end and claim
    made the front-end load the records' and indexes' buckets again) and some 6.2 ms after a scheduled
    start that was cancelled (written by the front-end itself: its cache holds them). So each timed
    start follows, on its side, an untimed one of today's that ran and was fetched: the same before all."""
    runs = [(side, name, form) for side in sides for name, form in KINDS]
    for _number in range(3):  # warm-up: templates, caches, connections
        for side, _name, form in runs:
            side.start(form)
    times = {(side.name, name): [] for side, name, _form in runs}
    order = random.Random(ORDER_SEED)
    for _number in range(rounds):
        # A new order each round: a start that comes after one whose job ran (its instance's end
        # transactions, its maintenance pass after it) is not always the same kind's.
        for side, name, form in order.sample(runs, len(runs)):
            side.start({})  # not timed: every timed start follows a job that ran and was fetched (see ``starts``)
            times[side.name, name].append(side.start(form))
    rows = []
    today_name = KINDS[0][0]

    def row(name, side_name, base_name, base_side, goal=True):
        mine, base = times[side_name, name], times[base_side, base_name]
        ratio = statistics.median(mine) / statistics.median(base)
        return Row(
            f"{name} on {side_name}",
            f"{statistics.median(mine) * 1000:.1f} ms",
            f"{statistics.median(base) * 1000:.1f} ms {base_name} on {base_side}",
            ratio,
            f"<= {START_GOAL:g}" if goal else "",
            ratio <= START_GOAL if goal else None,
        )

    for side in sides:
        rows.append(Row(f"{today_name} on {side.name}", f"{statistics.median(times[side.name, today_name]) * 1000:.1f} ms"))
        for name, _form in KINDS[1:]:
            rows.append(row(name, side.name, today_name, side.name))
    worker, front_end = sides
    rows.append(row(KINDS[1][0], worker.name, today_name, front_end.name, goal=False))
    return rows


def due_later(side, db, count):
    """Schedule ``count`` jobs on ``side`` in a burst, due FIRST_DUE s after the first start and DUE_STEP
    apart; once all ran: the seconds from each one's time to its running."""
    began = time.time()
    # Each due at began + FIRST_DUE + number * DUE_STEP, whenever its own POST is made.
    seconds = (began + FIRST_DUE + number * DUE_STEP - time.time() for number in range(count))
    return ran_after_due(side, db, [side.bench.start(VIEW, seconds=f"{s:.3f}").process_id for s in seconds])


def due_soon(side, db, count):
    """Schedule ``count`` jobs on ``side`` one by one, each due SOON_MIN to SOON_MIN + 1 s after its own
    start (less than ``claim-interval`` ahead: the worst case of a job scheduled on another instance);
    once all ran: the seconds from each one's time to its running."""
    process_ids = []
    for number in range(count):
        ahead = SOON_MIN + (number * 0.37) % 1.0  # every phase of the claim interval
        process_ids.append(side.bench.start(VIEW, seconds=f"{ahead:.3f}").process_id)
        time.sleep(SOON_PACE)  # the benchmark's pace, so that the starts fall at every phase too
    return ran_after_due(side, db, process_ids)


def ran_after_due(side, db, process_ids):
    """Wait for the scheduled ``process_ids`` to be done (and fetch them): from each one's time to its running."""
    latencies = []
    for process_id in process_ids:
        status = side.bench.wait(VIEW, process_id, timeout=DEADLINE)
        assert status["state"] == "done", status
        side.bench.fetch(VIEW, process_id)
        run_after, started = db.record_run(process_id)
        assert run_after is not None, f"{process_id} was not scheduled: its start came after its time"
        latencies.append(started - run_after)
    return latencies


def percentile(values, fraction):
    """The nearest-rank percentile."""
    values = sorted(values)
    return values[max(0, math.ceil(fraction * len(values)) - 1)]


def latency_rows(side, how, latencies):
    p95, early = percentile(latencies, 0.95), sum(1 for seconds in latencies if seconds < 0)
    return [
        Row(
            f"due job's claim latency, scheduled on {side.name} {how}, p95",
            f"{p95:.2f} s",
            f"median {statistics.median(latencies):.2f} s, longest {max(latencies):.2f} s, {len(latencies)} jobs",
            None,
            f"<= {LATENCY_GOAL:g} s",
            p95 <= LATENCY_GOAL and not early,
        ),
        Row("  of these, started before their time", f"{early}", goal="0", met=not early),
    ]


@contextlib.contextmanager
def worker_and_front_end(name):
    """A ZEO server, a worker A and a front-end F (``pool-size 0``), the Plone site and a Member's session to
    each: ``(sides, db)`` (the Sides of A and F, a ZEO client of this process); all stopped afterwards."""
    cluster = Cluster(name)
    sides, db = [], None
    try:
        zeo = cluster.zeo_server()
        zeo.start()
        a = cluster.instance(zeo=zeo, product_config={"pool-size": "2"})
        f = cluster.instance(zeo=zeo, product_config={"pool-size": "0"})
        heavy.say("creating the Plone site and starting a worker and a front-end...")
        a.create_site(SITE)
        a.start()
        f.start()
        db = database.Database((HOST, zeo.port))
        sides = [Side(a, zeo, db, "a worker"), Side(f, zeo, db, "a front-end")]
        yield sides, db
    finally:
        for side in sides:
            side.close()
        if db is not None:
            db.close()
        cluster.close()


def run(rounds=24, due=40):
    """Start the servers, measure, stop them; the rows of the table."""
    began = time.monotonic()
    with worker_and_front_end("netsight-async-bench-scheduled") as (sides, db):
        heavy.say(f"ready after {time.monotonic() - began:.0f} s; the starts...")
        rows = starts(sides, rounds)
        heavy.say("the claim latency of due jobs...")
        for side in sides:
            rows += latency_rows(side, "3 s or more ahead", due_later(side, db, due))
            rows += latency_rows(side, "0.1-1.1 s ahead", due_soon(side, db, due))
    heavy.say(f"the scheduled run took {time.monotonic() - began:.0f} s")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=24, help="rounds of the side-by-side starts (default 24)")
    parser.add_argument("--due", type=int, default=40, help="due jobs scheduled on each instance (default 40)")
    args = parser.parse_args()
    heavy.stop_on_sigterm()
    rows = run(args.rounds, args.due)
    print(f"\nbench/scheduled.py {' '.join(sys.argv[1:])}: start later and priorities ({machine()})")
    print(table(rows))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
