"""Heavy jobs on a Zope instance on a real ZEO server: polls, progress, a big result, starts, many jobs, a big registry.

    .venv/bin/python bench/heavy.py [--rounds 4] [--jobs 500] [--clients 20]
                                    [--big 104857600] [--registry 100000]

It starts two ZEO servers (runzeo, with a blob directory), each with one
Zope instance (runwsgi, 4 HTTP threads, the package's default settings:
pool-size 2, max-per-user 0 i.e. no cap, progress-interval 1 s), with the
test fixture tests/helpers/instances.py; it creates the Plone site /plone on each
and speaks HTTP to them as the site's Member (basic auth; the CSRF token
of ``@@own-template`` with every POST). Everything is measured on the
first instance; the second, whose registry stays small, is the baseline
of the registry's size. Each measure has its baseline in the same run,
the two interleaved (alternate rounds, the order swapped each round), so
that the noise of a shared machine falls on both:

polls
    Requests per second of ``completed?...&output_json=1`` for a running
    job (``steady``, numeric=0: it only sleeps) against GET ``noop-now`` (a
    plain view that does nothing), over --clients/5 keep-alive connections
    (wrk with one thread where it is installed, else Python threads), 2 s
    a round, 2 x --rounds rounds each; the ratio is the median of the
    rounds' ratios. The transactions the server committed meanwhile are
    read back through a ZEO client: only heartbeats may be there, anything
    else was written by a poll.
progress
    ``many-reports`` count=10000 work=200 (200 us of the job's own work
    before each report: a 2 s job) against the same with quiet=1 (the same
    loop without ``set_progress``), --rounds each: the job's run time,
    from the record's ``started`` to its ``finished`` as the server
    recorded them, and the growth of the server's Data.fs from the POST to
    the job's end; medians (the time ratio: the median of the rounds').
big result
    ``big-result`` of --big bytes, written with ``response.write``, then
    returned as a file iterator: the instance's peak RSS growth (the peak
    reset through ``/proc/<pid>/clear_refs``, VmHWM minus the VmRSS
    before) while the worker captures the body, and while ``result`` is
    fetched (read 64 KiB at a time, never whole; length and sha256
    checked against ``big_body``).
start
    The time from the POST to the 303 of ``noop`` (the start) against the
    same POST to ``noop-now``, which answers 200 at once; 8 x --rounds
    each, medians. Each started job is waited for and fetched before the
    next request (not timed); then one small commit of this process's ZEO
    client is timed, for what a ZEO transaction costs.
many jobs
    --jobs no-op jobs from --clients concurrent clients (the same user, a
    connection each): each started, polled every 0.2 s until it ended, and
    its result fetched; how many were done and fetched, how many lost
    (with the record's error and the log lines naming it), and whether the
    registry still holds any of them.
registry size
    Poll time (a done, unfetched job; the median of 3 polls) and start
    time with 10, 1,000 and --registry done, unfetched records in the
    registry of the first instance (written directly into its database by
    a ZEO client of this process, in batches of 5,000, finished now),
    against the same on the reference instance with 10 records,
    interleaved, 3 x --rounds rounds; medians and their ratio (at 10
    records on both, the ratio shows how alike the two instances are).
    With them, as the Zope root's Manager, the Managers' page
    ``@@netsight-async-processes`` (10 rows a page, as many as the
    smallest registry holds): its first page, and the page in the middle
    of the done records (``state=done``).
"""

from pathlib import Path

from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import HOST
from netsight.asynchronous.tests.helpers.instances import MANAGER
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.views import big_body
from report import machine
from report import mebibytes
from report import MiB
from report import Row
from report import table

import argparse
import database
import hashlib
import json
import load
import os
import signal
import statistics
import sys
import time


SITE = "/plone"
ENDED = frozenset({"done", "failed", "cancelled", "interrupted"})
DEADLINE = 300  # seconds for one job to end (a 100 MB one on a busy machine included)
ROUND = 2.0  # seconds of one round of requests, for the request rates
POLL_EVERY = 0.2  # seconds between two polls of a client of the many jobs
REGISTRY_SIZES = (10, 1000)  # and --registry
LIMIT = 30 * MiB  # the goal: peak RSS growth for a big result
MANAGE = f"{SITE}/@@netsight-async-processes?b_size=10"  # the Managers' page, 10 rows a page
TIMED = ("poll", "start", "Managers' page 1", "Managers' middle page (done)")  # time_registry's figures
DEPTH_BOUND = TIMED[3]  # a page deep in the list walks the index to it: no goal of flatness


class Bench:
    """The instance, the database, and a Member's (and the Manager's) keep-alive session to the site."""

    def __init__(self, instance, zeo, db):
        self.instance = instance
        self.zeo = zeo
        self.db = db
        self.session = self.new_session()
        self.manager = load.Session(instance.port, *MANAGER)
        self.token = self.authenticator()

    def close(self):
        """Close the sessions and the database (before the servers stop)."""
        self.session.close()
        self.manager.close()
        self.db.close()

    def new_session(self):
        return load.Session(self.instance.port, *MEMBER)

    def authenticator(self):
        """plone.protect's token for the Member (the same for every request of the run)."""
        answer = self.session.get(f"{SITE}/@@own-template")
        assert answer.status == 200, answer
        marker = b'name="_authenticator" value="'
        start = answer.body.index(marker) + len(marker)
        return answer.body[start : answer.body.index(b'"', start)].decode("ascii")

    def data_fs(self):
        """The size of the ZEO server's Data.fs, bytes."""
        return os.path.getsize(self.zeo.storage_path())

    def start(self, view, session=None, **form):
        """POST ``form`` to ``view`` of the site; the Answer (a 303 to ``processing``)."""
        answer = (session or self.session).post(f"{SITE}/@@{view}", {"_authenticator": self.token, **form})
        assert answer.status == 303, (view, answer, answer.body[:300])
        return answer

    def page(self, view, page, process_id, **query):
        """The path of a status page of a process."""
        extra = "".join(f"&{key}={value}" for key, value in query.items())
        return f"{SITE}/@@{view}/{page}?process_id={process_id}{extra}"

    def status(self, view, process_id, session=None):
        """The ``completed`` JSON of a process."""
        answer = (session or self.session).get(self.page(view, "completed", process_id, output_json=1))
        assert answer.status == 200, (answer, answer.body[:300])
        return json.loads(answer.body)

    def wait(self, view, process_id, states=ENDED, every=0.05, session=None, timeout=DEADLINE):
        """Poll until the process is in one of ``states``; its last status."""
        deadline = time.monotonic() + timeout
        while (status := self.status(view, process_id, session))["state"] not in states:
            if time.monotonic() > deadline:
                raise AssertionError(f"{view} {process_id}: still {status} after {timeout} s")
            time.sleep(every)
        return status

    def fetch(self, view, process_id, session=None):
        """GET the result (once); the Answer."""
        answer = (session or self.session).get(self.page(view, "result", process_id))
        assert answer.status == 200, (answer, answer.body[:300])
        return answer

    def run_job(self, view, **form):
        """Start a job, wait for its end, fetch its result; the result's Answer."""
        process_id = self.start(view, **form).process_id
        status = self.wait(view, process_id)
        assert status["state"] == "done", status
        return self.fetch(view, process_id)


def say(text):
    """Progress, on stderr, while the benchmark runs."""
    print(text, file=sys.stderr, flush=True)


def alternate(rounds, first, second):
    """Call ``first()`` and ``second()`` ``rounds`` times each, swapping their order each round.

    Returns the two lists of what they returned.
    """
    firsts, seconds = [], []
    for number in range(rounds):
        pair = ((first, firsts), (second, seconds))
        for func, found in pair if number % 2 == 0 else reversed(pair):
            found.append(func())
    return firsts, seconds


def paired(firsts, seconds, figure):
    """The median ratio of ``figure`` over the pairs of one round each (what ``alternate`` returned)."""
    return statistics.median(figure(first) / figure(second) for first, second in zip(firsts, seconds))


# Polls.


def polls(bench, rounds, clients):
    """Poll rate of a running job against a plain view, and what the polls wrote."""
    hold = rounds * 2 * ROUND + 8  # seconds the job must run: the rounds and the warm-up
    process_id = bench.start("steady", steps="1", delay=f"{hold / 2:.0f}", numeric="0").process_id
    bench.wait("steady", process_id, states={"running"})
    port = bench.instance.port
    poll = bench.page("steady", "completed", process_id, output_json=1)
    plain = f"{SITE}/@@noop-now"
    for path in (poll, plain):  # warm-up: templates, caches, connections
        load.rate(port, path, 1, clients, *MEMBER)
    since, size = bench.db.last_tid(), bench.data_fs()
    poll_rates, plain_rates = alternate(
        rounds,
        lambda: load.rate(port, poll, ROUND, clients, *MEMBER),
        lambda: load.rate(port, plain, ROUND, clients, *MEMBER),
    )
    growth = bench.data_fs() - size
    written = bench.db.transactions_since(since)
    still = bench.status("steady", process_id)["state"]
    assert still == "running", f"the polled job ended too soon: {still}"
    errors = sum(rate[2] for rate in poll_rates + plain_rates)
    assert not errors, f"{errors} answers other than 200"
    bench.wait("steady", process_id, timeout=hold)
    bench.fetch("steady", process_id)
    return polls_rows(poll_rates, plain_rates, growth, written, clients)


def polls_rows(poll_rates, plain_rates, growth, written, clients):
    poll = statistics.median(rate[0] for rate in poll_rates)
    plain = statistics.median(rate[0] for rate in plain_rates)
    ratio = paired(poll_rates, plain_rates, lambda rate: rate[0])
    beats = [txn for txn in written if txn.heartbeat]
    others = [txn for txn in written if not txn.heartbeat]
    other_bytes = sum(txn.data_bytes for txn in others)
    say(f"polls ({load.generator()}): {[round(r[0]) for r in poll_rates]}/s against "
        f"{[round(r[0]) for r in plain_rates]}/s; Data.fs +{growth} bytes, {len(beats)} heartbeats, "
        f"{len(others)} other transactions {[txn.classes for txn in others]}")
    return [
        Row(
            f"poll rate, running job ({clients} connections)",
            f"{poll:.0f} requests/s",
            f"{plain:.0f}/s noop-now GET",
            ratio,
            ">= 0.8",
            ratio >= 0.8,
        ),
        Row(
            "bytes written by the polls",
            f"{other_bytes} bytes, {len(others)} transactions",
            f"Data.fs +{growth} bytes: {len(beats)} heartbeats",
            None,
            "0 bytes",
            not others,
        ),
    ]


# Progress.

PROGRESS_WORK = 200  # microseconds of the job's own work before each report


def progress(bench, rounds):
    """10,000 progress reports against the same job without them: run time and Data.fs growth."""

    def job(**form):
        size = bench.data_fs()
        process_id = bench.start("many-reports", count="10000", work=str(PROGRESS_WORK), **form).process_id
        status = bench.wait("many-reports", process_id)
        assert status["state"] == "done", status
        growth = bench.data_fs() - size
        _state, started, finished = bench.db.record_times(process_id)
        assert bench.fetch("many-reports", process_id).body == b"10000 reports"
        return finished - started, growth

    bench.run_job("many-reports", count="100")  # warm-up
    loud, quiet = alternate(rounds, job, lambda: job(quiet="1"))
    loud_time, quiet_time = (statistics.median(seconds for seconds, _growth in runs) for runs in (loud, quiet))
    loud_growth, quiet_growth = (statistics.median(growth for _seconds, growth in runs) for runs in (loud, quiet))
    say(f"progress: {[f'{s:.3f}' for s, _g in loud]} s against {[f'{s:.3f}' for s, _g in quiet]} s; "
        f"Data.fs {[g for _s, g in loud]} against {[g for _s, g in quiet]} bytes")
    extra = loud_growth - quiet_growth
    ratio = paired(loud, quiet, lambda run: run[0])
    return [
        Row(
            "job with 10,000 set_progress: run time",
            f"{loud_time * 1000:.0f} ms ({(loud_time - quiet_time) / 10000 * 1e6:.1f} us a call)",
            f"{quiet_time * 1000:.0f} ms without",
            ratio,
            "<= 1.05",
            ratio <= 1.05,
        ),
        Row(
            "job with 10,000 set_progress: Data.fs",
            f"+{loud_growth:.0f} bytes",
            f"+{quiet_growth:.0f} bytes without",
            loud_growth / quiet_growth if quiet_growth else None,
            "+<= 100 KB more",
            extra <= 100_000,
        ),
    ]


# A big result.


def rss(pid, key="VmRSS"):
    """A memory figure of /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak(pid):
    """Reset the process's peak RSS (VmHWM) to its RSS now (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_growth(pid, func):
    """Call ``func()``; the process's peak RSS growth meanwhile, bytes, and what ``func`` returned."""
    before = rss(pid)
    reset_peak(pid)
    answer = func()
    return rss(pid, "VmHWM") - before, answer


def big_result(bench, size, how):
    """Peak RSS growth of the instance while a big body is captured, and while it is fetched."""
    pid = bench.instance.pid
    expected = hashlib.sha256()
    for block in big_body(size):
        expected.update(block)

    def capture():
        began = time.perf_counter()
        process_id = bench.start("big-result", size=str(size), how=how).process_id
        status = bench.wait("big-result", process_id, every=0.2)
        assert status["state"] == "done", status
        return process_id, time.perf_counter() - began

    def fetch():
        began = time.perf_counter()
        answer = bench.session.stream(bench.page("big-result", "result", process_id))
        return answer, time.perf_counter() - began

    captured, (process_id, capture_seconds) = peak_growth(pid, capture)
    fetched, ((status, length, digest), fetch_seconds) = peak_growth(pid, fetch)
    assert (status, length, digest) == (200, size, expected.hexdigest()), (status, length, digest)
    say(f"big result ({how}): captured in {capture_seconds:.1f} s, peak +{mebibytes(captured)}; "
        f"fetched in {fetch_seconds:.1f} s, peak +{mebibytes(fetched)}; length and sha256 right")
    body = mebibytes(size)
    return [
        Row(
            f"{body} result ({how}): peak RSS, capture",
            f"+{mebibytes(captured)}",
            f"{body} body",
            captured / size,
            "< 30 MiB",
            captured < LIMIT,
        ),
        Row(
            f"{body} result ({how}): peak RSS, fetch",
            f"+{mebibytes(fetched)}",
            f"{body} body",
            fetched / size,
            "< 30 MiB",
            fetched < LIMIT,
        ),
    ]


# The start.


def starts(bench, rounds):
    """POST to 303 of a no-op job against the same POST to a plain view that does the same at once."""

    def start():
        answer = bench.start("noop")
        bench.wait("noop", answer.process_id)
        bench.fetch("noop", answer.process_id)
        return answer.seconds

    def plain(view="noop-now"):
        answer = bench.session.post(f"{SITE}/@@{view}", {"_authenticator": bench.token})
        assert answer.status == 200 and answer.body == b"done", answer
        return answer.seconds

    def both():
        return start(), bench.db.commit_seconds()

    def plain_ones():
        return plain(), plain("noop-now-committed")

    alternate(3, both, plain_ones)  # warm-up
    started, planned = alternate(rounds, both, plain_ones)
    job = statistics.median(seconds for seconds, _commit in started)
    now, committed = (statistics.median(seconds[i] for seconds in planned) for i in (0, 1))
    commit = statistics.median(commit for _time, commit in started)
    say(f"start: median {job * 1000:.1f} ms against {now * 1000:.1f} ms, and {committed * 1000:.1f} ms "
        f"committing ({rounds} each); a ZEO commit {commit * 1000:.1f} ms")
    ratio = job / now
    return [
        Row(
            "start (POST to 303) of a no-op job",
            f"{job * 1000:.1f} ms",
            f"{now * 1000:.1f} ms noop-now POST",
            ratio,
            "<= 1.5",
            ratio <= 1.5,
        ),
        Row(
            "the same start",
            f"{job * 1000:.1f} ms",
            f"{committed * 1000:.1f} ms noop-now POST committing one object",
            job / committed,
        ),
        Row("a ZEO commit of one small object", f"{commit * 1000:.1f} ms", "(this process's client)"),
    ]


# Many jobs.


def many_jobs(bench, jobs, clients):
    """``jobs`` no-op jobs from ``clients`` concurrent clients: each started, polled to its end, fetched."""
    # Each outcome: (process id or None, "done" or what went wrong).
    outcomes, seconds = load.jobs_from_clients(jobs, clients, bench.new_session, lambda session: one_job(bench, session))
    return many_rows(bench, jobs, clients, outcomes, seconds)


def one_job(bench, session):
    """Start a no-op job, poll it until it ended, fetch its result: ``(process id, "done" or why not)``."""
    process_id = None
    try:
        process_id = bench.start("noop", session=session).process_id
        status = bench.wait("noop", process_id, every=POLL_EVERY, session=session, timeout=DEADLINE)
        if status["state"] != "done":
            return process_id, status["state"]
        answer = session.get(bench.page("noop", "result", process_id))
        if answer.status != 200 or answer.body != b"done":
            return process_id, f"result: HTTP {answer.status}"
        return process_id, "done"
    except Exception as exc:  # a lost job, counted: the others go on
        return process_id, f"{type(exc).__name__}: {exc}"


def many_rows(bench, jobs, clients, outcomes, seconds):
    done = sum(1 for _pid, outcome in outcomes if outcome == "done")
    lost = [(pid, outcome) for pid, outcome in outcomes if outcome != "done"]
    left = bench.db.holds([pid for pid, _outcome in outcomes if pid is not None])
    say(f"many jobs: {done} of {jobs} done and fetched in {seconds:.1f} s, {len(lost)} lost; "
        f"{len(left)} still holding a result")
    for process_id, outcome in lost[:10]:
        say(f"  lost {process_id}: {outcome}; {why_lost(bench, process_id)}")
    return [
        Row(
            f"{jobs} no-op jobs, {clients} clients",
            f"{done} done, {len(lost)} lost",
            f"{jobs} started",
            done / jobs,
            "all done, none lost",
            done == jobs and not lost and not left,
        ),
        Row(
            f"{jobs} no-op jobs, {clients} clients: time",
            f"{seconds:.1f} s, {done / seconds:.1f} jobs/s",
            f"{len(left)} still holding a result",
        ),
    ]


def why_lost(bench, process_id):
    """What the server knows of a lost job: its record's error, and the instance's log lines naming it."""
    if process_id is None:
        return "it did not start"
    record = bench.db.record_error(process_id)
    lines = [line for line in Path(bench.instance.log).read_text().splitlines() if process_id in line]
    return f"record: {record}; log: {lines[-3:]}"


# The registry's size.


def registry_size(bench, reference, sizes, rounds):
    """Poll and start time with ``sizes`` done, unfetched records in the registry of ``bench``'s
    instance, against ``reference``'s (the smallest size all along), interleaved."""
    polled = {side: side.start("noop").process_id for side in (bench, reference)}
    for side, process_id in polled.items():
        side.wait("noop", process_id)  # done, unfetched: one of the records
    reference.db.fill(sizes[0], "noop", SITE, MEMBER[0])
    found = {}
    for size in sizes:
        filled = bench.db.fill(size, "noop", SITE, MEMBER[0])
        found[size] = time_registry(bench, reference, polled, rounds)
        figures = ", ".join(f"{what} {mine * 1000:.1f} against {base * 1000:.1f} ms" for what, mine, base in
                            zip(TIMED, *found[size]))
        say(f"registry of {size} records (filled in {filled:.1f} s) against {sizes[0]}: {figures}")
    for side, process_id in polled.items():
        side.fetch("noop", process_id)
    return registry_rows(found, sizes[0])


def time_registry(bench, reference, polled, rounds):
    """Median times of TIMED (each start waited for and fetched, not timed) on both instances,
    interleaved: ``((poll, start, page 1, middle page) of bench, (the same) of reference)``."""

    def poll(side):
        page = side.page("noop", "completed", polled[side], output_json=1)
        return statistics.median(side.session.get(page).seconds for _ in range(3))

    def start(side):
        answer = side.start("noop")
        side.wait("noop", answer.process_id)
        side.fetch("noop", answer.process_id)
        return answer.seconds

    def manage(side, middle=False):
        path = MANAGE
        if middle:  # all done: the page in the middle of them
            path = f"{MANAGE}&state=done&b_start={side.db.count() // 2 // 10 * 10}"
        answer = side.manager.get(path)
        assert answer.status == 200 and b'id="netsight-async-all-processes"' in answer.body, (path, answer)
        return answer.seconds

    def both(side):
        return poll(side), start(side)

    # Each page in rounds of its own: a page deep in the list walks the
    # index, which takes the other figures' objects out of the instance's
    # cache (a ZODB cache of the default size, 5,000 objects).
    alternate(2, lambda: both(bench), lambda: both(reference))  # warm-up: what the fill changed arrives
    big, small = alternate(rounds, lambda: both(bench), lambda: both(reference))
    pages = []
    for middle in (False, True):
        alternate(1, lambda: manage(bench, middle), lambda: manage(reference, middle))  # warm-up
        pages.append(alternate(rounds, lambda: manage(bench, middle), lambda: manage(reference, middle)))

    def medians(side):  # 0: bench, 1: reference
        timed = (big, small)[side]
        figures = (statistics.median(times[i] for times in timed) for i in range(2))
        return (*figures, *(statistics.median(page[side]) for page in pages))

    return medians(0), medians(1)


def registry_rows(found, smallest):
    rows = []
    for size, (figures, bases) in found.items():
        for what, figure, base in zip(TIMED, figures, bases):
            ratio = figure / base
            goal = size != smallest and what != DEPTH_BOUND
            rows.append(
                Row(
                    f"{what} time, {size:,} records",
                    f"{figure * 1000:.1f} ms",
                    f"{base * 1000:.1f} ms with {smallest:,}",
                    ratio,
                    "<= 1.2" if goal else ("(walks to it)" if what == DEPTH_BOUND else "(same size)"),
                    ratio <= 1.2 if goal else None,
                )
            )
    return rows


# The run.


def setup(cluster, name):
    """A ZEO server and an instance on it, with the Plone site; the Bench."""
    zeo = cluster.zeo_server()
    zeo.start()
    instance = cluster.instance(zeo=zeo)
    say(f"{name}: creating the Plone site and starting the instance...")
    instance.create_site(SITE)
    instance.start()
    db = database.Database((HOST, zeo.port))
    try:
        return Bench(instance, zeo, db)
    except BaseException:
        db.close()
        raise


def run(rounds=4, jobs=500, clients=20, big=100 * MiB, registry=100_000):
    """Start the servers, measure everything, stop them; the rows of the table."""
    began = time.monotonic()
    cluster = Cluster("netsight-async-bench-heavy")
    benches = []
    try:
        benches.append(setup(cluster, "the instance"))
        benches.append(setup(cluster, "the reference instance (registry size)"))
        bench, reference = benches
        say(f"ready after {time.monotonic() - began:.0f} s")
        rows = polls(bench, rounds * 2, max(1, clients // 5))
        rows += starts(bench, rounds * 8)
        rows += progress(bench, rounds)
        for how in ("write", "iterator"):
            rows += big_result(bench, big, how)
        rows += many_jobs(bench, jobs, clients)
        rows += registry_size(bench, reference, (*REGISTRY_SIZES, registry), rounds * 3)
    finally:
        for bench in benches:
            bench.close()
        cluster.close()
    say(f"the heavy run took {time.monotonic() - began:.0f} s")
    return rows


def stop_on_sigterm():
    """SIGTERM ends the run as Ctrl-C does: the servers are stopped on the way out."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def arguments(parser):
    """The options of the heavy run, added to ``parser``."""
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each interleaved pair (default 4)")
    parser.add_argument("--jobs", type=int, default=500, help="no-op jobs of the many-jobs run (default 500)")
    parser.add_argument("--clients", type=int, default=20, help="their concurrent clients (default 20)")
    parser.add_argument("--big", type=int, default=100 * MiB, help="bytes of the big result (100 MiB)")
    parser.add_argument("--registry", type=int, default=100_000, help="the largest registry (default 100000)")
    return parser


def main():
    parser = arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    args = parser.parse_args()
    stop_on_sigterm()
    rows = run(args.rounds, args.jobs, args.clients, args.big, args.registry)
    print(f"\nHeavy jobs, one instance on a ZEO server ({machine()})")
    print(table(rows))


if __name__ == "__main__":
    main()
