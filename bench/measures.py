"""The five measures of bench/compare.py, the same for the package and each peer: start cost, drain, pickup, end to end, null jobs.

Each takes a ``System`` (bench/systems.py): its web side (the plain, the
committing and the starting request; a job's start, state and result
over HTTP), the file where its jobs mark their first line, and how its
queue is held and released.

start cost
    Requests per second of the start (POST), against the same framework's
    plain POST that does nothing and one that commits one small object:
    wrk, one thread, ``CONNECTIONS`` keep-alive connections, ``ROUND``
    seconds each, ``rounds`` rounds, the order turned each round; medians.
drain
    ``jobs`` no-op jobs started while the queue is held (``FILLERS``
    clients), then released: from the first job's first line to the last
    job seen done, jobs per second (the marks file is watched until the
    last job began, then its state polled, every ``DRAIN_POLL``). With a
    ``deadline``, the jobs that began within it, per second.
pickup
    On an idle system, ``samples`` times one job: from its start's answer
    (the commit is done by then) to its first line; median and p95.
end to end
    ``jobs`` jobs from ``clients`` clients, each started, its state polled
    every ``POLL_EVERY`` until it ended, its result fetched: jobs per
    second, how many were done and fetched, how many lost.
null jobs
    The end to end's requests with no job behind them, from the same
    ``clients``: a committing POST (a start commits its record), a plain
    GET (one poll that finds the job ended) and a committing POST (a fetch
    takes the result), ``jobs`` times: jobs per second. No job of the
    system can beat it, so end to end over null job says how near a
    system comes to what its framework's requests allow.
"""

from bench_marks import read_marks

import load
import re
import statistics
import subprocess
import tempfile
import time


ROUND = 2.0  # seconds of one wrk run
CONNECTIONS = 4  # wrk's connections: as many as the servers' threads
FILLERS = 4  # clients that start the jobs of a drain
DRAIN_POLL = 0.02  # seconds between two looks at the last job of a drain
POLL_EVERY = 0.2  # seconds between two polls of an end-to-end client (as bench/heavy.py's)
MARK_POLL = 0.001  # seconds between two looks at the marks file for a pickup
DEADLINE = 300  # seconds for one job to end
PAUSE = 0.2  # seconds of idleness between two pickups


class Rates:
    """Requests per second of the plain, the committing and the starting POST (medians), and for each
    ``(requests sent, answers other than 2xx or 3xx)`` in ``sent["plain"|"commit"|"start"]``."""

    def __init__(self, plain, commit, start, sent):
        self.plain, self.commit, self.start, self.sent = plain, commit, start, sent

    def errors(self, kind):
        """"" or " (N errors of M)" for the POSTs of ``kind``."""
        requests, errors = self.sent[kind]
        return f" ({errors} errors of {requests})" if errors else ""


class Drain:
    """A drain: the jobs that began, in how many seconds, and whether a deadline cut it."""

    def __init__(self, jobs, began, seconds, cut):
        self.jobs, self.began, self.seconds, self.cut = jobs, began, seconds, cut

    @property
    def rate(self):
        return self.began / self.seconds if self.seconds > 0 else 0.0


class EndToEnd:
    """An end-to-end run: done and fetched, lost (with why), not started by the deadline, seconds."""

    def __init__(self, jobs, done, lost, unstarted, seconds):
        self.jobs, self.done, self.lost, self.unstarted, self.seconds = jobs, done, lost, unstarted, seconds

    @property
    def rate(self):
        return self.done / self.seconds if self.seconds > 0 else 0.0


def wrk_post(port, path, body, headers, seconds=ROUND, connections=CONNECTIONS):
    """``(requests per second, requests, answers other than 2xx or 3xx)`` of wrk POSTing ``body`` to ``path``."""
    lines = ['wrk.method = "POST"', f"wrk.body = {lua(body)}"]
    lines += [f"wrk.headers[{lua(name)}] = {lua(value)}" for name, value in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write("\n".join(lines) + "\n")
        script.flush()
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s", "-s", script.name,
                   f"http://{load.HOST}:{port}{path}"]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    per_second = float(re.search(r"Requests/sec:\s*([\d.]+)", output)[1])
    requests = int(re.search(r"(\d+) requests in", output)[1])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return per_second, requests, int(errors[1]) if errors else 0


def lua(text):
    """A Lua string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def start_cost(system, rounds):
    """The Rates of ``system``'s plain, committing and starting POSTs, interleaved."""
    web = system.web
    paths = {"plain": web.plain_path, "commit": web.commit_path, "start": web.start_path}
    kinds = list(paths)
    found = {kind: [] for kind in kinds}
    sent = {kind: [0, 0] for kind in kinds}
    for path in paths.values():  # warm-up
        wrk_post(web.port, path, web.form(), web.headers, seconds=1)
    for number in range(rounds):
        for kind in kinds[number % 3:] + kinds[:number % 3]:
            rate, requests, errors = wrk_post(web.port, paths[kind], web.form(), web.headers)
            found[kind].append(rate)
            sent[kind][0] += requests
            sent[kind][1] += errors
    plain, commit, start = (statistics.median(found[kind]) for kind in kinds)
    return Rates(plain, commit, start, {kind: tuple(counts) for kind, counts in sent.items()})


def start_many(system, jobs, clients=FILLERS):
    """Start ``jobs`` jobs from ``clients`` clients at once; their ids, in the order they were started."""
    started, _seconds = load.jobs_from_clients(jobs, clients, system.web.session, system.web.start)
    if len(started) != jobs:
        raise AssertionError(f"{system.name}: {len(started)} of {jobs} jobs started")
    return started


def drain(system, jobs, deadline=None):
    """Jobs per second of one worker instance that finds ``jobs`` jobs waiting (a Drain).

    Until the last job began, the marks file is watched, not the system:
    no request competes with the worker for the instance that runs the
    jobs. Then the last job's state is polled until it ended.
    """
    offset = system.marks_size()
    system.hold()
    try:
        ids = start_many(system, jobs)
        system.check_held(ids)
    finally:
        system.release()
    first = wait_marks(system, offset, 1, DEADLINE)[0]
    cut = None if deadline is None else first + deadline
    while len(times := read_marks(system.marks, offset)[0]) < jobs:
        if cut is not None and time.time() > cut:
            return Drain(jobs, sum(1 for when in times if when <= cut), deadline, True)
        if time.time() > first + DEADLINE * 10:
            raise AssertionError(f"{system.name}: {len(times)} of {jobs} jobs began")
        time.sleep(DRAIN_POLL)
    session = system.web.session()
    try:
        wait_ended(system, session, ids[-1], every=DRAIN_POLL)
    finally:
        session.close()
    return Drain(jobs, jobs, time.time() - first, False)


ENDED = frozenset({"done", "failed", "cancelled", "interrupted", "unknown"})


def wait_marks(system, offset, count, timeout):
    """The times marked after ``offset`` once there are ``count`` of them (a poll with a deadline)."""
    limit = time.monotonic() + timeout
    while len(times := read_marks(system.marks, offset)[0]) < count:
        if time.monotonic() > limit:
            raise AssertionError(f"{system.name}: {len(times)} of {count} jobs began within {timeout} s")
        time.sleep(MARK_POLL)
    return times


def pickup(system, samples):
    """Seconds from a start's answer to its job's first line, ``samples`` times on an idle system."""
    found = []
    session = system.web.session()
    try:
        for _ in range(samples):
            offset = system.marks_size()
            job_id = system.web.start(session)
            answered = time.time()
            (began,) = wait_marks(system, offset, 1, DEADLINE)
            found.append(began - answered)
            wait_ended(system, session, job_id)
            time.sleep(PAUSE)  # idle again: what the system does between two jobs
    finally:
        session.close()
    return found


def wait_ended(system, session, job_id, every=0.05, timeout=DEADLINE):
    """Poll the job's state until it ended; the state."""
    limit = time.monotonic() + timeout
    while (state := system.web.state(session, job_id)) not in ENDED:
        if time.monotonic() > limit:
            raise AssertionError(f"{system.name}: job {job_id} still {state} after {timeout} s")
        time.sleep(every)
    return state


def percentile(values, fraction):
    """The ``fraction`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def end_to_end(system, jobs, clients, deadline=None):
    """``jobs`` jobs from ``clients`` clients, each followed to its result (an EndToEnd).

    With a ``deadline`` (seconds), no client starts a job after it.
    """
    outcomes, seconds = load.jobs_from_clients(
        jobs, clients, system.web.session, lambda session: one_job(system, session), deadline
    )
    done = sum(1 for outcome in outcomes if outcome == "done")
    lost = [outcome for outcome in outcomes if outcome != "done"]
    return EndToEnd(jobs, done, lost, jobs - len(outcomes), seconds)


def null_jobs(system, jobs, clients):
    """``jobs`` null jobs from ``clients`` clients, the end to end's requests alone: jobs per second."""
    web = system.web
    form = web.form().encode("ascii")
    steps = (("POST", web.commit_path, form), ("GET", web.plain_path, None), ("POST", web.commit_path, form))

    def null_job(session):
        for method, path, body in steps:
            answer = session.request(method, path, body, {"Content-Type": web.headers["Content-Type"]} if body else None)
            if answer.status != 200:
                return f"{method} {path} answered {answer.status}"
        return "done"

    outcomes, seconds = load.jobs_from_clients(jobs, clients, web.session, null_job)
    failed = [outcome for outcome in outcomes if outcome != "done"]
    if failed or len(outcomes) != jobs:
        raise AssertionError(f"{system.name}: {len(outcomes)} null jobs of {jobs}, {len(failed)} failed: {failed[:3]}")
    return jobs / seconds


def one_job(system, session):
    """Start a job, poll it until it ended, fetch its result: "done", or what went wrong."""
    try:
        job_id = system.web.start(session)
        state = wait_ended(system, session, job_id, every=POLL_EVERY)
        if state != "done":
            return f"{job_id}: {state}"
        body = system.web.result(session, job_id)
        return "done" if body == b"done" else f"{job_id}: result {body[:100]!r}"
    except Exception as exc:  # a lost job, counted: the others go on
        return f"{type(exc).__name__}: {exc}"
