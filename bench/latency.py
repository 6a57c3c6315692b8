"""How long after a job ends does the browser show its result, how far does
its bar trail the stored progress, and how many polls did it cost? Three
processing pages side by side, for jobs that report progress: at the
predicted end, following the job (``steady``), at growing intervals only
(``steady-growing-polls``) and every 5 s as in 2011 (``steady-fixed-polls``).

    .venv/bin/python bench/latency.py [--jobs 24] [--concurrency 4] [--max-delay 8]

It sets up the Chromium test layer in this process (a Plone site served by
waitress on 127.0.0.1, a DemoStorage), and drives Debian's chromium with
Playwright as the test user. Each job is the test view ``steady``, as long
as twice a ``delay`` from 0.1 s to --max-delay (jobs of 0.2 to 16 s), its
reports at a pace that goes round PACES along the lengths: one report
halfway (the job of the former comparison), or one every 2, 1, 0.5 or 0.25 s
(each ``100 * step / (steps + 1)`` percent: a straight line). Each job runs
once in each page, the three at the same time, so that all see the same
load; --concurrency such triples run at once. The pool has room for all of
them (nothing waits in the queue) and ``progress-interval`` is the
default, 1 s (the test layer writes each report).

Latency: from the commit that marks the process done (stamped in this
process, right after that commit returns: from then on any poll sees it)
to the result page's first contentful paint in Chromium (its
DOMContentLoaded if Chromium reports no paint), both on the same clock.
Wait: of the latency, the part until the poll that saw the job done
started (Playwright's request timing; 0 if the processing page itself went
to the result): what the schedule of the polls decides. The rest is that
poll, the navigation and the rendering, which the machine's load decides.
Polls: the ``completed?`` requests the processing page sent, as Playwright
saw them.

The bar's lag: how long the bar has trailed the stored progress
(``following.bar_lag``), sampled every LAG_SAMPLE s of each job's run,
from its processing page's first bar to the commit of its end; median, p95
and worst of all samples of a page. The bar's values are those the page
set (its ``aria-valuenow``, each change reported by an init script with
the page's epoch time); the stored progress, each progress write's commit
(stamped in this process, as the end). Printed beside the latency table,
with the polls per job and per second of a job's run.

``run()`` measures and returns the figures as rows, for another script's
summary; ``main()`` prints them, with each job's.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.chromium import CHROMIUM_BROWSER
from netsight.asynchronous.tests.helpers.chromium import layer_set_up
from netsight.asynchronous.tests.helpers.chromium import new_context
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL
from netsight.asynchronous.tests.helpers.chromium import start_job
from netsight.asynchronous.tests.helpers.following import bar_lag
from netsight.asynchronous.tests.helpers.following import SHOWN_AT

import argparse
import contextlib
import logging
import os
import platform
import re
import statistics
import sys
import threading
import time


# (name, view): the page at the predicted end first, the two it is compared to after.
PAGES = (
    ("predicted end", "steady"),
    ("growing intervals", "steady-growing-polls"),
    ("every 5 s (2011)", "steady-fixed-polls"),
)
PACES = (None, 2.0, 1.0, 0.5, 0.25)  # seconds between two reports; None: one report, halfway
PROCESS_ID = re.compile(r"process_id=([0-9a-f]{32})")
REQUEST_THREADS = 4  # at most, of the test server (plone.testing's WSGI server: waitress's default)
SETTINGS = {"NETSIGHT_ASYNC_PROGRESS_INTERVAL": "1"}  # the default; the test layer's is 0

LAG_SAMPLE = 0.1  # s: between two samples of the bar's lag

# Run in each page before its own scripts: reports the bar's value (0 while
# it is hidden or missing) whenever it changes, with the page's epoch time.
BAR_LOG = """(() => {
  let shown = null;
  const report = () => {
    const bar = document.querySelector(".netsight-async-bar");
    const value = bar && !bar.hidden ? Number(bar.getAttribute("aria-valuenow")) || 0 : 0;
    if (value !== shown) {
      shown = value;
      window.netsightBarShown(Date.now(), value);
    }
  };
  document.addEventListener("DOMContentLoaded", () => {
    if (document.getElementById("netsight-async-processing")) {
      report();
      new MutationObserver(report).observe(document.body, {attributes: true, subtree: true,
        attributeFilter: ["aria-valuenow", "hidden"]});
    }
  });
})();"""


class Stamps:
    """The epoch time at which each process's *done* state was committed,
    and each of its progress writes: ``(time, progress)``."""

    def __init__(self):
        self.stamps = {}
        self.progress = {}
        self._finishing = set()
        self._lock = threading.Lock()
        self._reported = threading.local()
        self._change = registry.change
        self._finish = registry.ProcessRecord.finish
        self._report = registry.ProcessRecord.report

    def install(self):
        stamps = self

        def finish(record, *args, **kwargs):
            stamps._finishing.add(record.process_id)
            return stamps._finish(record, *args, **kwargs)

        def report(record, *args, **kwargs):
            answer = stamps._report(record, *args, **kwargs)
            if answer:
                stamps._reported.value = record.progress
            return answer

        def change(db, process_id, func, *args, **kwargs):
            stamps._reported.value = None
            answer = stamps._change(db, process_id, func, *args, **kwargs)  # returns once committed
            now = time.time()
            reported, stamps._reported.value = stamps._reported.value, None
            with stamps._lock:
                if process_id in stamps._finishing:
                    stamps.stamps.setdefault(process_id, now)
                elif reported is not None and answer is not None:
                    stamps.progress.setdefault(process_id, []).append((now, float(reported)))
            return answer

        registry.ProcessRecord.finish = finish
        registry.ProcessRecord.report = report
        registry.change = change

    def uninstall(self):
        registry.ProcessRecord.finish = self._finish
        registry.ProcessRecord.report = self._report
        registry.change = self._change


def job_form(length, pace):
    """``steady``'s form for a job of ``length`` seconds reporting every ``pace`` seconds."""
    steps = 1 if pace is None else max(1, round(length / pace) - 1)
    return {"steps": steps, "delay": f"{length / (steps + 1):.3f}", "numeric": 1}


def job_mix(jobs, max_delay):
    """``[(length, pace)]``: lengths spread evenly, paces going round PACES
    along them; longest first, alternating with the shortest, so that the
    jobs running at once end spread out."""
    count = max(2, jobs)
    lengths = [2 * (0.1 + i * (max_delay - 0.1) / (count - 1)) for i in range(count)]
    mix = [(length, PACES[i % len(PACES)]) for i, length in enumerate(lengths)]
    order = []
    while mix:
        order.append(mix.pop())
        if mix:
            order.append(mix.pop(0))
    return order


def pace_name(pace):
    return "halfway" if pace is None else f"{pace:g} s"


class Run:
    """One job in one page: its polls, and when its result was shown."""

    def __init__(self, context, site_url, page_name, view, length, pace):
        self.page_name = page_name
        self.length = length
        self.pace = pace
        self.polls = 0
        self.last_poll = None  # the poll that saw the job done (the last one)
        self.bars = []  # (epoch s, the bar's value) at each change the page reported
        self.page = context.new_page()
        self.page.on("request", self._request)
        self.page.expose_function("netsightBarShown", lambda at, value: self.bars.append((at / 1000, float(value))))
        self.page.add_init_script(BAR_LOG)
        start_job(self.page, site_url, view, **job_form(length, pace))
        self.process_id = None
        self.shown = None
        self.paint = None
        self.polled = None  # when the last poll started (epoch s)

    def _request(self, request):
        if "/completed?" in request.url:
            self.polls += 1
            self.last_poll = request

    def collect(self):
        """True once the result is shown (then its figures are read)."""
        if not RESULT_URL.search(self.page.url):
            return False
        self.page.locator("#result").wait_for(state="visible", timeout=30_000)
        self.page.wait_for_load_state("load")
        shown = self.page.evaluate(SHOWN_AT)
        self.shown, self.paint = shown["at"] / 1000, shown["paint"]
        self.polled = None if self.last_poll is None else self.last_poll.timing["startTime"] / 1000
        self.process_id = PROCESS_ID.search(self.page.url)[1]
        self.page.close()
        return True


class Measurement:
    """What one run measured: each job in each page, and the done stamps."""

    def __init__(self, jobs, concurrency, max_delay):
        self.jobs = jobs
        self.concurrency = concurrency
        self.max_delay = max_delay
        self.runs = []
        self.stamps = {}
        self.progress = {}  # process id -> [(epoch s, progress)]: its progress writes, committed
        self.total = self.measuring = 0.0
        self.load = []  # the machine's load average (1 min) at the start and the end

    def latency(self, run):
        """Seconds from the job's end to its result shown, or None without a done stamp."""
        done = self.stamps.get(run.process_id)
        return None if done is None else run.shown - done

    def wait(self, run):
        """Seconds from the job's end to the start of the poll that saw it (0
        if there was none after it: the processing page itself went to the
        result); the rest of the latency is that poll, the navigation and
        the rendering of the result."""
        done = self.stamps.get(run.process_id)
        return max(0.0, run.polled - done) if run.polled is not None else 0.0

    def of_page(self, name):
        """``(latencies, waits, polls)`` of the page's jobs that have a done stamp."""
        runs = [run for run in self.runs if run.page_name == name and self.latency(run) is not None]
        return [self.latency(run) for run in runs], [self.wait(run) for run in runs], [run.polls for run in runs]

    def missing(self):
        return sum(1 for run in self.runs if self.latency(run) is None)

    def lags(self, run):
        """The bar's lag behind the stored progress (s), sampled every
        LAG_SAMPLE s from the page's first bar to the commit of the job's
        end; [] without them."""
        done = self.stamps.get(run.process_id)
        bars = sorted(run.bars)
        if done is None or not bars:
            return []
        changes = sorted(self.progress.get(run.process_id, []))
        lags, shown, at = [], 0, bars[0][0]
        while at < done:
            while shown + 1 < len(bars) and bars[shown + 1][0] <= at:
                shown += 1
            lags.append(bar_lag(at, bars[shown][1], changes))
            at += LAG_SAMPLE
        return lags

    def lags_of_page(self, name):
        """``(lags, polls per second)``: all samples of the page's jobs, and its polls per second of a job's run."""
        runs = [run for run in self.runs if run.page_name == name and self.latency(run) is not None]
        lags = [lag for run in runs for lag in self.lags(run)]
        return lags, sum(run.polls for run in runs) / sum(run.length for run in runs)


def percentile(values, fraction):
    """The nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


@contextlib.contextmanager
def environment(values):
    """The environment variables ``values`` set meanwhile (settings are read at each use)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def warm_up(contexts, site_url):
    """One short job per page: templates compiled, Plone's resources in the
    browser's cache, as on a site in use; not measured."""
    for (_name, view), context in zip(PAGES, contexts):
        context.set_default_timeout(60_000)
        warm = context.new_page()
        start_job(warm, site_url, view, steps=1, delay=0.1)
        warm.wait_for_url(RESULT_URL)
        warm.close()


def drive(measurement, contexts, site_url, quiet=False):
    """Run each job of the mix in each page, ``concurrency`` triples at once,
    until every result was shown."""
    pending = job_mix(measurement.jobs, measurement.max_delay)
    expected = len(pending) * len(PAGES)
    active = []
    while pending or active:
        while pending and len(active) < len(PAGES) * measurement.concurrency:
            length, pace = pending.pop(0)
            for (name, view), context in zip(PAGES, contexts):
                run = Run(context, site_url, name, view, length, pace)
                active.append(run)
                measurement.runs.append(run)
        active[0].page.wait_for_timeout(50)  # lets Playwright deliver its events
        still = [run for run in active if not run.collect()]
        if len(still) < len(active) and not quiet:
            shown = len(measurement.runs) - len(still)
            print(f"\r{shown}/{expected} jobs shown", end="", file=sys.stderr)
        active = still
    if not quiet:
        print(file=sys.stderr)


def measure(jobs=24, concurrency=4, max_delay=8.0, quiet=False):
    """Set up the layer, run the mix in the three pages; returns the Measurement."""
    measurement = Measurement(jobs, concurrency, max_delay)
    measurement.load.append(os.getloadavg()[0])
    began = time.monotonic()
    stamps = Stamps()
    pool = {"NETSIGHT_ASYNC_POOL_SIZE": str(len(PAGES) * (concurrency + 1))}  # no job waits
    with layer_set_up(CHROMIUM_BROWSER) as layer, environment({**SETTINGS, **pool}):
        # deployment.rst: a pool of connections for the request threads, the job threads and 2 more
        layer["zodbDB"].setPoolSize(int(pool["NETSIGHT_ASYNC_POOL_SIZE"]) + REQUEST_THREADS + 2)
        stamps.install()
        try:
            site_url = chromium_server_url(layer) + "/".join(layer["portal"].getPhysicalPath())
            contexts = [new_context(layer["browser"]) for _page in PAGES]
            warm_up(contexts, site_url)
            setup_done = time.monotonic()
            drive(measurement, contexts, site_url, quiet)
            for context in contexts:
                context.close()
            join_workers()
        finally:
            stamps.uninstall()
    measurement.load.append(os.getloadavg()[0])
    measurement.stamps = stamps.stamps
    measurement.progress = stamps.progress
    measurement.total = time.monotonic() - began
    measurement.measuring = time.monotonic() - setup_done
    return measurement


def page_row(measurement, name, view):
    """The figures of one page: latency and the wait for the poll in it (s),
    median and p95; polls per job, median, p95 and all; the bar's lag (s),
    median, p95 and worst; polls per second of a job's run."""
    latencies, waits, polls = measurement.of_page(name)
    lags, polls_per_second = measurement.lags_of_page(name)
    return {
        "page": name,
        "view": view,
        "jobs": len(latencies),
        "latency_median": statistics.median(latencies),
        "latency_p95": percentile(latencies, 0.95),
        "wait_median": statistics.median(waits),
        "wait_p95": percentile(waits, 0.95),
        "polls_median": statistics.median(polls),
        "polls_p95": percentile(polls, 0.95),
        "polls_total": sum(polls),
        "lag_median": statistics.median(lags),
        "lag_p95": percentile(lags, 0.95),
        "lag_worst": max(lags),
        "lag_samples": len(lags),
        "polls_per_second": polls_per_second,
    }


FIGURES = ("latency_median", "latency_p95", "wait_median", "wait_p95", "polls_median", "polls_p95", "polls_total")
LAG_FIGURES = ("lag_median", "lag_p95", "lag_worst", "polls_median", "polls_per_second")


def ratio_row(new, old):
    """Each figure of ``new`` divided by the same of ``old``."""
    row = {"page": f"ratio ({new['page']} / {old['page']})", "view": "", "jobs": new["jobs"]}
    row.update({key: new[key] / old[key] if old[key] else float("nan") for key in FIGURES + LAG_FIGURES})
    return row


def rows(measurement):
    """The three pages' figures, then the ratios of the first to each other."""
    pages = [page_row(measurement, name, view) for name, view in PAGES]
    return pages + [ratio_row(pages[0], other) for other in pages[1:]]


def run(jobs=24, concurrency=4, max_delay=8.0, quiet=True):
    """Measure and return the figures: a list of dicts, one per page (``page``,
    ``view``, ``jobs``; ``latency_median``, ``latency_p95`` and, of it, the
    wait for the poll, ``wait_median``, ``wait_p95``, in seconds;
    ``polls_median``, ``polls_p95``, ``polls_total``; the bar's lag behind
    the stored progress, ``lag_median``, ``lag_p95``, ``lag_worst``, in
    seconds, of ``lag_samples`` samples; ``polls_per_second`` of a job's
    run), then the ratios of the page at the predicted end to each other
    page (the same keys, ``view`` "")."""
    return rows(measure(jobs, concurrency, max_delay, quiet=quiet))


WIDTHS = (16, 13, 13, 10, 14, 11, 11)


def table(figures):
    """The rows as a text table."""
    heads = ("latency median", "latency p95", "wait median", "wait p95", "polls median", "polls p95", "polls all")
    return _text_table(figures, heads, FIGURES, WIDTHS)


LAG_WIDTHS = (12, 9, 11, 14, 18)


def lag_table(figures):
    """The bar's lag and the polls of the rows, as a text table (beside ``table``'s)."""
    heads = ("lag median", "lag p95", "lag worst", "polls median", "polls a second")
    return _text_table(figures, heads, LAG_FIGURES, LAG_WIDTHS, rates=("polls_per_second",))


def _text_table(figures, heads, keys, widths, rates=()):
    """``figures``' ``keys`` under ``heads``: a ratio row's (``view`` "") and
    the ``rates`` with two decimals, polls as counts, the rest in seconds."""
    lines = [f"{'page':44}" + "".join(f"{head:>{width}}" for head, width in zip(heads, widths))]
    for row in figures:
        cells = []
        for key, width in zip(keys, widths):
            value = row[key]
            if not row["view"] or key in rates:
                cells.append(f"{value:>{width}.2f}")
            elif key.startswith("polls"):
                cells.append(f"{value:>{width}g}")
            else:
                cells.append(f"{value:>{width - 1}.2f}s")
        lines.append(f"{row['page']:44}" + "".join(cells))
    return "\n".join(lines)


def by_pace(measurement):
    """Per report pace and page: latency median and max, polls median."""
    lines = ["by report pace (latency median / max s, polls median):"]
    for pace in PACES:
        cells = []
        for name, _view in PAGES:
            runs = [r for r in measurement.runs if r.pace == pace and r.page_name == name]
            latencies = [measurement.latency(r) for r in runs if measurement.latency(r) is not None]
            if latencies:
                polls = statistics.median(r.polls for r in runs)
                cells.append(f"{statistics.median(latencies):5.2f} / {max(latencies):5.2f} / {polls:4g}")
        lines.append(f"  {pace_name(pace):>8}: " + " | ".join(cells))
    return "\n".join(lines)


def per_job(measurement):
    """Each job's latency and polls in the three pages, by length."""
    lines = ["per job (length s, pace: latency s, of it the wait s / polls, " + " | ".join(n for n, _ in PAGES) + "):"]
    cells = {}
    for run in measurement.runs:
        latency = measurement.latency(run)
        cells.setdefault((run.length, run.pace), {})[run.page_name] = (
            "-" if latency is None else f"{latency:5.2f} {measurement.wait(run):5.2f} / {run.polls:2d}"
        )
    for (length, pace), cell in sorted(cells.items(), key=lambda item: item[0][0]):
        lines.append(f"  {length:5.2f} {pace_name(pace):>8}: " + " | ".join(cell.get(name, "-") for name, _ in PAGES))
    return "\n".join(lines)


def report(measurement, figures):
    """Print the run: its setting, the table, the figures by pace and by job, a summary."""
    m = measurement
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(
        f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average {m.load[0]:.1f} at the start, "
        f"{m.load[-1]:.1f} at the end"
    )
    print(
        f"{len(m.runs) // len(PAGES)} jobs per page (steady: 0.2-{2 * m.max_delay:g} s long, a report "
        f"{', '.join(pace_name(p) for p in PACES)} apart in turn), {m.concurrency} triples at once; "
        f"{m.measuring:.0f} s of jobs, {m.total:.0f} s in all"
    )
    print()
    print(table(figures))
    if m.missing():
        print(f"({m.missing()} jobs without a done stamp were left out)")
    print()
    print(
        f"the bar's lag behind the stored progress (sampled every {LAG_SAMPLE:g} s of each job's run: "
        f"{', '.join(str(row['lag_samples']) for row in figures[: len(PAGES)])} samples), "
        "polls per job and per second of a job's run:"
    )
    print(lag_table(figures))
    print()
    print(by_pace(m))
    print()
    print(per_job(m))
    new, growing, fixed = figures[: len(PAGES)]
    print()
    print(
        f"summary: the result is shown {new['latency_median']:.2f} s (median, p95 {new['latency_p95']:.2f} s) "
        f"after the job ends at the predicted end, {growing['latency_median']:.2f} s "
        f"(p95 {growing['latency_p95']:.2f} s) with growing intervals, {fixed['latency_median']:.2f} s "
        f"(p95 {fixed['latency_p95']:.2f} s) with a poll every 5 s; polls {new['polls_total']}, "
        f"{growing['polls_total']} and {fixed['polls_total']}; the bar's lag median / worst "
        f"{new['lag_median']:.2f} / {new['lag_worst']:.2f} s, {growing['lag_median']:.2f} / "
        f"{growing['lag_worst']:.2f} s and {fixed['lag_median']:.2f} / {fixed['lag_worst']:.2f} s"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=24, help="jobs per page (default 24)")
    parser.add_argument("--concurrency", type=int, default=4, help="triples of jobs at once (default 4)")
    parser.add_argument("--max-delay", type=float, default=8.0, help="half the longest job, seconds (default 8)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)
    measurement = measure(args.jobs, args.concurrency, args.max_delay)
    report(measurement, rows(measurement))


if __name__ == "__main__":
    main()
