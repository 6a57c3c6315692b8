"""The processing page follows a steady ~10 s job with the default settings, in Chromium.

The real clock and the default ``progress-interval`` (the layers' 0 is
undone for the test): Chromium's bar (aria-valuenow) and time left are
sampled every SAMPLE seconds while the test reads the stored progress (the
JSON status) at the same moments. The bar never lags the stored progress by
more than LAG seconds; after the job's first 3 s the time left is within a
factor of two of the job's real remaining time (give or take the clock's
rounding, SLACK). Margins are honest ones for a loaded 2-core machine.
"""

from playwright.sync_api import expect

from netsight.asynchronous.testing import PROGRESS_INTERVAL
from netsight.asynchronous.tests.chromium import ChromiumTestCase
from netsight.asynchronous.tests.chromium import PROCESSING_URL
from netsight.asynchronous.tests.chromium import RESULT_URL

import os
import re
import time


SAMPLE = 0.25  # s: between samples
LAG = 2.5  # s: the bar shows at least what was stored this long before
SLACK = 1.5  # s: the time left's rounding and a sample's own time
LEFT = re.compile(r"About (\d+):(\d\d) left")


def default_progress_interval(test):
    """Undo the layers' ``progress-interval`` 0 for the rest of ``test``."""
    old = os.environ.pop(PROGRESS_INTERVAL, None)
    if old is not None:
        test.addCleanup(os.environ.__setitem__, PROGRESS_INTERVAL, old)


class TestTheBarFollowsTheJob(ChromiumTestCase):
    def test_a_steady_job_with_the_defaults(self):
        """A job of 10 s that reports every 0.05 s: the bar is never more than
        LAG behind the stored progress, and after 3 s the time left is within
        a factor of two of the truth."""
        default_progress_interval(self)
        page = self.page
        self.start("steady", steps=199, delay=0.05)
        page.wait_for_url(PROCESSING_URL)
        started = time.monotonic()
        poll_url = page.locator("#netsight-async-processing").get_attribute("data-poll-url")
        poll_url = page.evaluate("(url) => new URL(url, document.baseURI).href", poll_url)
        samples = []  # (t, bar, stored, time left shown)
        ended = None
        while ended is None:
            self.assertLess(time.monotonic() - started, 60, "the job did not end within 60 s")
            t = time.monotonic() - started
            if RESULT_URL.search(page.url):
                ended = t
                break
            try:
                bar = page.locator(".netsight-async-bar").get_attribute("aria-valuenow", timeout=2000)
                left = page.locator(".netsight-async-remaining").text_content(timeout=2000)
            except Exception:  # the page went on to the result meanwhile
                continue
            status = self.context.request.get(poll_url).json()
            if status["state"] == "done":
                ended = t
                break
            stored = status["completed"] if isinstance(status["completed"], (int, float)) else 0
            samples.append((t, float(bar) if bar else 0.0, float(stored), left))
            time.sleep(max(0, t + SAMPLE - (time.monotonic() - started)))
        expect(page.locator("#result")).to_have_text("Done after 199 steps", timeout=10_000)
        self.assertGreater(len(samples), 20, samples)
        for t, bar, _, _ in samples:
            before = [stored for ts, _, stored, _ in samples if ts <= t - LAG]
            if before:
                self.assertGreaterEqual(bar, before[-1], f"the bar at {t:.2f} s lags more than {LAG} s: {samples}")
        told = []
        for t, _, _, left in samples:
            match = LEFT.fullmatch(left or "")
            if t < 3 or not match:
                continue
            shown = int(match.group(1)) * 60 + int(match.group(2))
            truth = ended - t
            told.append((t, shown, truth))
            self.assertLessEqual(shown, 2 * truth + SLACK, f"time left at {t:.2f} s: {samples}")
            self.assertGreaterEqual(shown, truth / 2 - SLACK, f"time left at {t:.2f} s: {samples}")
        self.assertGreater(len(told), 5, f"the time left shown too rarely: {samples}")
