"""How long does a cancel asked on a front-end take to reach a job running on a worker?

    .venv/bin/python bench/cancel_latency.py [--cancels 20] [--heartbeat-interval 10]

A ZEO server, a front-end F (``pool-size 0``) and a worker A (``pool-size
2``), real ``runwsgi`` processes on 127.0.0.1 (tests/helpers/instances.py), the
other settings their defaults (``heartbeat-interval`` 10 s,
``progress-interval`` 1 s) unless given. For each of two jobs, --cancels
times: the job is started on F, claimed and run by A; once F reads it
running, a Member's ``cancel`` POST goes to F, and F is polled (every
10 ms) until it no longer reads it running. The latency is from the
cancel sent (the click) to that poll: F writes the cancel, the job on A
learns of it, stops, and its end reaches F; the cancel's own answer (F's
write, which may meet a ConflictError with the job's progress write, and
F's read after it) is given apart. The jobs: ``watches-cancel`` (checks
``is_cancelled`` every 10 ms, reports nothing; it returns once it sees the
cancel: *done*) and ``steady`` (a ``set_progress`` every 70 ms, as the
demo's Fibonacci: *cancelled*). Prints the median, the 90th percentile and
the longest of each.

With ``--page``, what a user sees instead, in Debian's Chromium
(Playwright): F's processing page of a ``steady`` job that A runs, its
Cancel button clicked; from the click to the page saying "Cancelling..."
and to the page saying "The process was cancelled.".
"""

from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import wait_until
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import argparse
import statistics
import sys
import time


SITE = "/plone"
JOBS = (
    ("is_cancelled every 10 ms", "watches-cancel", {"seconds": "120"}),
    ("set_progress every 70 ms", "steady", {"steps": "1500", "delay": "0.07"}),
)
DEADLINE = 60  # seconds for a job to be claimed, or to stop after a cancel


def start(client, f, view, form):
    """POST to ``view`` on F; the URL of its ``completed`` JSON and its process id."""
    token = client.token(f"{f.url}{SITE}/@@own-template")
    response = client.post(f"{f.url}{SITE}/@@{view}", {"_authenticator": token, **form})
    assert response.status == 303, (response.status, response.text[:300])
    (process_id,) = parse_qs(urlsplit(response.location).query)["process_id"]
    return f"{f.url}{SITE}/@@{view}", process_id, token


def state(client, view_url, process_id):
    return client.get(f"{view_url}/completed?process_id={process_id}&output_json=1").json()


def measure(client, f, view, form, cancels):
    latencies, answers = [], []
    for _ in range(cancels):
        view_url, process_id, token = start(client, f, view, form)
        wait_until(lambda: state(client, view_url, process_id)["state"] == "running", DEADLINE, "running")
        asked = time.monotonic()
        answer = client.post(
            f"{view_url}/cancel",
            {"process_id": process_id, "_authenticator": token},
            headers={"Accept": "application/json"},
        )
        answers.append(time.monotonic() - asked)
        assert answer.status == 200 and answer.json().get("cancelling"), (answer.status, answer.text[:300])
        while (seen := state(client, view_url, process_id)["state"]) == "running":
            assert time.monotonic() - asked < DEADLINE, "the job did not stop"
            time.sleep(0.01)  # the poll's pace: the measurement's resolution
        assert seen in ("cancelled", "done"), seen  # watches-cancel returns once it sees the cancel
        latencies.append(time.monotonic() - asked)
    return latencies, answers


def measure_page(client, f, cancels):
    """(click to "Cancelling...", click to "The process was cancelled.") of ``cancels`` clicks."""
    from netsight.asynchronous.tests.helpers.chromium import CHROMIUM
    from netsight.asynchronous.tests.helpers.chromium import CHROMIUM_ARGS
    from playwright.sync_api import expect
    from playwright.sync_api import sync_playwright

    cancelling, cancelled = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(extra_http_headers={"Authorization": client.headers["Authorization"]})
        page = context.new_page()
        for _ in range(cancels):
            view_url, process_id, _token = start(client, f, "steady", {"steps": "1500", "delay": "0.07"})
            wait_until(lambda: state(client, view_url, process_id)["state"] == "running", DEADLINE, "running")
            page.goto(f"{view_url}/processing?process_id={process_id}")
            status = page.locator(".netsight-async-status")
            expect(status).to_contain_text("%")
            clicked = time.monotonic()
            page.get_by_role("button", name="Cancel").click(no_wait_after=True)
            expect(status).to_have_text("Cancelling...", timeout=DEADLINE * 1000)
            cancelling.append(time.monotonic() - clicked)
            ended = page.locator(".netsight-async-ended h1")
            expect(ended).to_have_text("The process was cancelled.", timeout=DEADLINE * 1000)
            cancelled.append(time.monotonic() - clicked)
        browser.close()
    return cancelling, cancelled


def summary(seconds):
    seconds = sorted(seconds)
    p90 = seconds[min(len(seconds) - 1, int(0.9 * len(seconds)))]
    return f"median {statistics.median(seconds):.2f} s, 90th percentile {p90:.2f} s, longest {seconds[-1]:.2f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cancels", type=int, default=20)
    parser.add_argument("--heartbeat-interval", default=None, help="A's (default: the setting's default)")
    parser.add_argument("--page", action="store_true", help="measure the page in Chromium instead")
    args = parser.parse_args()
    config = {} if args.heartbeat_interval is None else {"heartbeat-interval": args.heartbeat_interval}
    cluster = Cluster("netsight-async-bench-cancel")
    try:
        zeo = cluster.zeo_server()
        zeo.start()
        a = cluster.instance(zeo=zeo, product_config={**config, "pool-size": "2"})
        f = cluster.instance(zeo=zeo, product_config={**config, "pool-size": "0"})
        a.create_site(SITE)
        a.start()
        f.start()
        client = Client(*MEMBER)
        if args.page:
            cancelling, cancelled = measure_page(client, f, args.cancels)
            print(f"page, {len(cancelled)} clicks: \"Cancelling...\" {summary(cancelling)}; cancelled {summary(cancelled)}")
            return 0
        for name, view, form in JOBS:
            latencies, answers = measure(client, f, view, form, args.cancels)
            print(f"{name}: {len(latencies)} cancels; {summary(latencies)}; the cancel's answer: {summary(answers)}")
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
