"""How long after a job ends does the browser show its result, and how many
polls did it cost? The processing page of ``steady`` (growing poll
intervals) against ``steady-fixed-polls`` (a poll every 5 s, as in 2011).

    .venv/bin/python bench/latency.py [--jobs 24] [--concurrency 4] [--max-delay 8]

It sets up the Chromium test layer in this process (a Plone site served by
waitress on 127.0.0.1, a DemoStorage), and drives Debian's chromium with
Playwright as the test user. Each job is ``steady`` with steps=1 and a
``delay`` from 0.1 s to --max-delay (the job lasts twice that); each length
runs once with each page, both at the same time, so that both see the same
load. --concurrency such pairs run at once.

Latency: from the commit that marks the process done (stamped in this
process, right after that commit returns: from then on any poll sees it)
to the result page's first contentful paint in Chromium (its
DOMContentLoaded if Chromium reports no paint), both on the same clock.
Polls: the ``completed?`` requests the processing page sent, as Playwright
saw them.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.tests.base import join_workers
from netsight.asynchronous.tests.chromium import CHROMIUM_BROWSER
from netsight.asynchronous.tests.chromium import layers_of
from netsight.asynchronous.tests.chromium import new_context
from netsight.asynchronous.tests.chromium import RESULT_URL
from netsight.asynchronous.tests.chromium import start_job

import argparse
import logging
import os
import platform
import re
import statistics
import sys
import threading
import time


VARIANTS = ("steady", "steady-fixed-polls")
PROCESS_ID = re.compile(r"process_id=([0-9a-f]{32})")

# When the result page was shown, on the epoch clock (ms).
SHOWN_AT = """() => {
  const paint = performance.getEntriesByType("paint").find((e) => e.name === "first-contentful-paint");
  const navigation = performance.getEntriesByType("navigation")[0];
  const at = paint ? paint.startTime : navigation.domContentLoadedEventEnd;
  return {at: performance.timeOrigin + at, paint: Boolean(paint)};
}"""


class DoneStamps:
    """The epoch time at which each process's *done* state was committed."""

    def __init__(self):
        self.stamps = {}
        self._finishing = set()
        self._lock = threading.Lock()
        self._change = registry.change
        self._finish = registry.ProcessRecord.finish

    def install(self):
        stamps = self

        def finish(record, response):
            stamps._finishing.add(record.process_id)
            return stamps._finish(record, response)

        def change(db, process_id, func):
            answer = stamps._change(db, process_id, func)  # returns once committed
            now = time.time()
            with stamps._lock:
                if process_id in stamps._finishing and process_id not in stamps.stamps:
                    stamps.stamps[process_id] = now
            return answer

        registry.ProcessRecord.finish = finish
        registry.change = change

    def uninstall(self):
        registry.ProcessRecord.finish = self._finish
        registry.change = self._change


class Run:
    """One job in one page: its polls, and when its result was shown."""

    def __init__(self, context, site_url, variant, delay):
        self.variant = variant
        self.delay = delay
        self.polls = 0
        self.page = context.new_page()
        self.page.on("request", self._request)
        self.view_url = start_job(self.page, site_url, variant, steps=1, delay=f"{delay:.3f}", numeric=1)
        self.process_id = None
        self.shown = None
        self.paint = None

    def _request(self, request):
        if "/completed?" in request.url:
            self.polls += 1

    def collect(self):
        """True once the result is shown (then its figures are read)."""
        if not RESULT_URL.search(self.page.url):
            return False
        self.page.locator("#result").wait_for(state="visible", timeout=30_000)
        self.page.wait_for_load_state("load")
        shown = self.page.evaluate(SHOWN_AT)
        self.shown, self.paint = shown["at"] / 1000, shown["paint"]
        self.process_id = PROCESS_ID.search(self.page.url)[1]
        self.page.close()
        return True


def percentile(values, fraction):
    """The nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=24, help="jobs per page (default 24)")
    parser.add_argument("--concurrency", type=int, default=4, help="pairs of jobs at once (default 4)")
    parser.add_argument("--max-delay", type=float, default=8.0, help="longest delay, seconds (default 8)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)

    count = max(2, args.jobs)
    delays = [0.1 + i * (args.max_delay - 0.1) / (count - 1) for i in range(count)]
    # Longest first, alternating with the shortest: the pairs finish spread out.
    order = []
    while delays:
        order.append(delays.pop())
        if delays:
            order.append(delays.pop(0))

    began = time.monotonic()
    layers = layers_of(CHROMIUM_BROWSER)
    done_layers = []
    stamps = DoneStamps()
    runs = []
    try:
        for layer in layers:
            layer.setUp()
            done_layers.append(layer)
        for layer in layers:
            if hasattr(layer, "testSetUp"):
                layer.testSetUp()
        stamps.install()
        site_url = chromium_server_url(CHROMIUM_BROWSER) + "/".join(
            CHROMIUM_BROWSER["portal"].getPhysicalPath()
        )
        browser = CHROMIUM_BROWSER["browser"]
        contexts = {variant: new_context(browser) for variant in VARIANTS}
        for variant, context in contexts.items():
            # Warm up: templates compiled, Plone's resources in the browser's
            # cache, as on a site in use; not measured.
            context.set_default_timeout(60_000)
            warm = context.new_page()
            start_job(warm, site_url, variant, steps=1, delay=0.1)
            warm.wait_for_url(RESULT_URL)
            warm.close()
        active = []
        pending = list(order)
        setup_done = time.monotonic()
        while pending or active:
            while pending and len(active) < 2 * args.concurrency:
                delay = pending.pop(0)
                for variant in VARIANTS:
                    run = Run(contexts[variant], site_url, variant, delay)
                    active.append(run)
                    runs.append(run)
            active[0].page.wait_for_timeout(50)  # lets Playwright deliver its events
            still = [run for run in active if not run.collect()]
            if len(still) < len(active):
                print(f"\r{len(runs) - len(still)}/{2 * len(order)} jobs shown", end="", file=sys.stderr)
            active = still
        print(file=sys.stderr)
        for context in contexts.values():
            context.close()
        join_workers()
    finally:
        stamps.uninstall()
        for layer in reversed(layers):
            if hasattr(layer, "testTearDown") and layer in done_layers:
                layer.testTearDown()
        for layer in reversed(done_layers):
            layer.tearDown()

    report(args, runs, stamps.stamps, time.monotonic() - began, time.monotonic() - setup_done)


def report(args, runs, stamps, total, measuring):
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(
        f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    print(
        f"{len(runs) // 2} jobs per page (steady, steps=1, delay 0.1-{args.max_delay:g} s: "
        f"jobs of 0.2-{2 * args.max_delay:g} s), {args.concurrency} pairs at once; "
        f"{measuring:.0f} s of jobs, {total:.0f} s in all"
    )
    figures = {}
    missing = 0
    for variant in VARIANTS:
        latencies, polls = [], []
        for run in runs:
            if run.variant != variant:
                continue
            done = stamps.get(run.process_id)
            if done is None:
                missing += 1
                continue
            latencies.append(run.shown - done)
            polls.append(run.polls)
        figures[variant] = latencies, polls
    print()
    print(f"{'':24}{'latency median':>16}{'latency p95':>13}{'polls median':>14}{'polls p95':>11}{'polls all':>11}")
    for variant in VARIANTS:
        latencies, polls = figures[variant]
        print(
            f"{variant:24}{statistics.median(latencies):>15.2f}s{percentile(latencies, 0.95):>12.2f}s"
            f"{statistics.median(polls):>14g}{percentile(polls, 0.95):>11g}{sum(polls):>11}"
        )
    (new_latency, new_polls), (old_latency, old_polls) = (figures[v] for v in VARIANTS)
    ratios = (
        statistics.median(new_latency) / statistics.median(old_latency),
        percentile(new_latency, 0.95) / percentile(old_latency, 0.95),
        statistics.median(new_polls) / statistics.median(old_polls),
        percentile(new_polls, 0.95) / percentile(old_polls, 0.95),
        sum(new_polls) / sum(old_polls),
    )
    print(f"{'ratio (steady / fixed)':24}{ratios[0]:>16.2f}{ratios[1]:>13.2f}{ratios[2]:>14.2f}{ratios[3]:>11.2f}{ratios[4]:>11.2f}")
    if missing:
        print(f"({missing} jobs without a done stamp were left out)")
    print()
    print("per job (delay s: latency s / polls, steady | fixed):")
    by_delay = {}
    for run in runs:
        done = stamps.get(run.process_id)
        by_delay.setdefault(run.delay, {})[run.variant] = (
            "-" if done is None else f"{run.shown - done:5.2f} / {run.polls:2d}"
        )
    for delay in sorted(by_delay):
        cells = by_delay[delay]
        print(f"  {delay:5.2f}: {cells.get(VARIANTS[0], '-')} | {cells.get(VARIANTS[1], '-')}")
    print()
    print(
        f"summary: the result is shown {statistics.median(new_latency):.2f} s (median) after the job ends "
        f"with growing intervals, {statistics.median(old_latency):.2f} s with a poll every 5 s "
        f"(x{ratios[0]:.2f}), for x{ratios[4]:.2f} the polls ({sum(new_polls)} vs {sum(old_polls)})"
    )


if __name__ == "__main__":
    main()
