"""When the processing page polls, in Debian's Chromium: every FOLLOW ms
while a running job reports its progress (at most FOLLOW_NO_PROGRESS while
it reports none), and at its predicted end when that is sooner, then soon
after it; at growing intervals otherwise (queued, hidden, switched off).

The page's clock is the test's (``page.clock``: nothing depends on the
machine's speed) and the test answers its polls (``Polls``, ``status_json``).
Each answer carries a message of its own: once the page shows it, the page
has read the answer and set its next poll. The schedule is read from the
polls the page makes while the test moves its clock on, STEP by STEP.
"""

from playwright.sync_api import expect

from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.chromium import ChromiumTestCase
from netsight.asynchronous.tests.helpers.chromium import JobOnHold
from netsight.asynchronous.tests.helpers.chromium import pause_clock
from netsight.asynchronous.tests.helpers.chromium import Polls
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL
from netsight.asynchronous.tests.helpers.chromium import SET_HIDDEN
from netsight.asynchronous.tests.helpers.chromium import start_job
from netsight.asynchronous.tests.helpers.chromium import status_json

import itertools


STEP = 25  # ms: how far the test moves the page's clock at a time
POLL_START = 250  # ms: StatusPages.poll_start
GROWTH = 1.5  # StatusPages.poll_growth
POLL_MAX = 5_000  # ms: StatusPages.poll_interval
HIDDEN_DELAY = 30_000  # ms: a hidden tab's polls
FOLLOW = 1_000  # ms: the longest wait while a running job reports a numeric progress
FOLLOW_NO_PROGRESS = 2_000  # ms: the longest wait while a running job reports none yet

# The growing intervals after the first poll (at POLL_START): 375, 562.5, ... 5000.
GROWING = [min(POLL_START * GROWTH**n, POLL_MAX) for n in range(1, 11)]

RESULT_PAGE = "<html><body><h1 id='result'>finished</h1></body></html>"


class PollScheduleTestCase(ChromiumTestCase):
    """A processing page whose clock and poll answers are the test's."""

    def open_processing(self, view="progress", **form):
        """Start a job of ``view`` (one on hold by default) and stop the page's
        clock once its first poll waits for the test's answer."""
        page = self.page
        page.clock.install()
        self.polls = Polls(page)
        self.answers = itertools.count(1)
        page.route(RESULT_URL, lambda route: route.fulfill(body=RESULT_PAGE, content_type="text/html"))
        if view == "progress":
            JobOnHold(self).start(page, self.site_url)
        else:
            start_job(page, self.site_url, view, **form)
        page.wait_for_url(PROCESSING_URL)
        self.polls.wait_for_held()
        pause_clock(page)
        self.assertEqual(self.polls.issued(), 1)
        return page.locator("#netsight-async-processing")

    def answer(self, **status):
        """Answer the poll that waits with a running job's ``status``; returns
        once the page has read it (it shows the answer's own message)."""
        message = f"answer {next(self.answers)}"
        self.polls.answer(json=status_json(message=message, **status))
        expect(self.page.locator(".netsight-async-message")).to_have_text(message)

    def next_poll(self, limit=POLL_MAX + 1_000, step=STEP):
        """Move the page's clock on until it polls again; returns after how
        many ms (a multiple of ``step``: the poll came less than ``step`` before)."""
        issued = self.polls.issued()
        waited = 0
        while self.polls.issued() == issued:
            self.assertLess(waited, limit, f"no poll within {limit} ms")
            self.page.clock.run_for(step)
            waited += step
        self.assertEqual(self.polls.issued(), issued + 1, "more than one poll at once")
        return waited

    def assert_poll_between(self, earliest, latest, what, step=STEP):
        """The next poll comes ``earliest`` to ``latest`` ms from now (to ``step``);
        returns after how many ms."""
        waited = self.next_poll(limit=latest + step, step=step)
        self.assertGreaterEqual(waited, earliest, f"{what}: a poll after {waited} ms, before {earliest} ms")
        self.assertLessEqual(waited, latest + step, f"{what}: a poll after {waited} ms, not by {latest} ms")
        return waited

    def assert_poll_after(self, wait, what, step=STEP):
        """The next poll comes ``wait`` ms from now (to ``step``)."""
        return self.assert_poll_between(wait, wait, what, step=step)


class TestPredictedEnd(PollScheduleTestCase):
    def test_polled_at_the_predicted_end_then_soon_after(self):
        """The job reached 50 % between two answers 0.4 s apart (4.0 and
        4.4 s after it started): it ends 8.0 to 8.8 s after its start, 3.6
        to 4.4 s after the answer; the page polls then, not 0.56 s later as
        the growing intervals would, and every second on the way (the bar
        follows the job). Still running: again within half a second. One
        answer tells no time left. Done: the result at once."""
        container = self.open_processing()
        self.assertEqual(container.get_attribute("data-poll-at-end"), "1")
        self.answer(completed=False, elapsed=4.0)  # running, no progress yet
        self.assert_poll_after(GROWING[0], "no progress: the growing interval")
        self.answer(completed=50, elapsed=4.4, remaining=4.4)
        expect(self.page.locator(".netsight-async-remaining")).to_have_text("")
        waited = 0
        while waited < 3_600 - FOLLOW:
            waited += self.assert_poll_between(GROWING[1], FOLLOW, "growing, up to every second on the way")
            self.answer(completed=50, elapsed=4.4 + waited / 1000, remaining=4.4 + waited / 1000)
        waited += self.assert_poll_between(3_600 - waited, 4_400 - waited, "the predicted end")
        self.answer(completed=50, elapsed=4.4 + waited / 1000, remaining=4.4 + waited / 1000)
        self.assert_poll_between(POLL_START, 500, "soon after the predicted end")
        self.polls.answer(json=status_json("done", 100))
        self.page.wait_for_url(RESULT_URL)  # the page's clock stands still: no wait for a timer
        expect(self.page.locator("#result")).to_have_text("finished")

    def test_far_at_poll_interval_near_soon(self):
        """An end far away: the page polls at the growing intervals, up to
        every second (FOLLOW), not at poll_interval. A new
        progress that tells the end is near, or passed: soon, but no sooner
        than poll_start."""
        self.open_processing()
        self.answer(completed=False, elapsed=0.5)
        self.assert_poll_after(GROWING[0], "no progress: the growing interval")
        self.answer(completed=5, elapsed=1.0, remaining=19.0)  # 5 %, reached 0.5 to 1.0 s after the start
        self.assert_poll_between(GROWING[1], FOLLOW, "the end 9 to 19 s away: growing, up to every second")
        self.answer(completed=98, elapsed=6.0, remaining=0.1)
        self.assert_poll_between(POLL_START, 500, "the end is near")

    def test_a_rough_prediction_is_checked_on_the_way(self):
        """20 %, reached between two answers 0.4 s apart (0.9 and 1.3 s
        after the start): the end 4.5 to 6.5 s after the start, 3.2 to
        5.2 s from now. The page polls every second on the way (FOLLOW),
        then at the end it predicts, between the two."""
        self.open_processing()
        self.answer(completed=False, elapsed=0.9)
        self.assert_poll_after(GROWING[0], "no progress: the growing interval")
        self.answer(completed=20, elapsed=1.3, remaining=5.2)
        checked = 0
        while checked < 3_200 - FOLLOW:
            checked += self.assert_poll_between(GROWING[1], FOLLOW, "growing, up to every second on the way")
            elapsed = 1.3 + checked / 1000
            self.answer(completed=20, elapsed=elapsed, remaining=round(elapsed * 4, 1))
        self.assert_poll_between(3_200 - checked, min(5_200 - checked, FOLLOW), "the predicted end")

    def test_long_after_the_latest_end_less_and_less_often(self):
        """A job still running long after the latest end its progress
        allows (its progress is no straight line): the page polls every
        half second until then, and ever less often afterwards, up to
        FOLLOW (every second, while the bar follows the job); never a storm
        of polls."""
        self.open_processing()
        self.answer(completed=False, elapsed=2.0)
        elapsed = 2.0 + self.next_poll() / 1000
        self.answer(completed=80, elapsed=elapsed, remaining=0.6)  # 80 % in 2.4 s: the end by 3.0 s
        waits = []
        for _ in range(12):
            waits.append(self.next_poll())
            elapsed += waits[-1] / 1000
            self.answer(completed=80, elapsed=elapsed, remaining=round(elapsed / 4, 1))
        soon, later = waits[:2], waits[2:]
        self.assertTrue(all(POLL_START <= wait <= 500 + STEP for wait in soon), waits)
        self.assertEqual(later, sorted(later), waits)
        self.assertLessEqual(later[0], 500 * GROWTH + STEP, waits)
        self.assertEqual(later[-3:], [FOLLOW] * 3, waits)

    def test_a_hidden_tab_waits_as_before(self):
        """A hidden tab polls every 30 s, whatever the predicted end."""
        self.open_processing()
        self.assertEqual(self.page.evaluate(SET_HIDDEN, True), 1)
        self.answer(completed=50, elapsed=1.0, remaining=1.0)
        self.assert_poll_after(HIDDEN_DELAY, "a hidden tab", step=500)


class TestGrowingIntervals(PollScheduleTestCase):
    def assert_growing(self, answers, cap=POLL_MAX):
        """After each of ``answers``, the next poll comes at the next growing
        interval (at most ``cap``, or that of the answer's own ``cap`` key)."""
        for interval, status in zip(GROWING, answers):
            status = dict(status)
            interval = min(interval, status.pop("cap", cap))
            self.answer(**status)
            self.assert_poll_after(interval, f"after {status}: the growing interval {interval} ms")

    def test_without_progress(self):
        """A running job that reports no number is polled at growing
        intervals, up to FOLLOW_NO_PROGRESS (its first number shows soon)."""
        self.open_processing()
        answers = [dict(completed=False, elapsed=0.3 + n) for n in range(len(GROWING))]
        self.assert_growing(answers, cap=FOLLOW_NO_PROGRESS)

    def test_queued_then_at_100_percent(self):
        """A queued job at the growing intervals, as before; a running one at
        100 % (no time left to tell) at most every FOLLOW."""
        self.open_processing()
        answers = [dict(state="queued", queue_position=1)] * 3 + [dict(completed=100, elapsed=9.0, cap=FOLLOW)] * 3
        self.assert_growing(answers)

    def test_switched_off(self):
        """``poll_at_predicted_end = False`` (the view ``steady-growing-polls``):
        the growing intervals, even when the answers tell the time left."""
        container = self.open_processing("steady-growing-polls", steps=0, delay=3)
        self.assertEqual(container.get_attribute("data-poll-at-end"), "0")
        self.assert_growing([dict(completed=50, elapsed=1.0 + n, remaining=1.0 + n) for n in range(6)])


class TestWaitsPastATimersReach(ChromiumTestCase):
    def test_the_longest_waits_are_waited_for_not_polled_at_once(self):
        """poll-start and poll-interval of 3,000,000 s, which the control panel takes: a browser
        runs a timer set further than 2**31 - 1 ms at once, which polled in a loop (347 polls
        in 4 s); the page waits as long as a timer reaches instead."""
        setting(self, "poll-start", 3_000_000)
        setting(self, "poll-interval", 3_000_000)
        page = self.page
        page.clock.install()
        polls = Polls(page)
        JobOnHold(self).start(page, self.site_url)
        page.wait_for_url(PROCESSING_URL)
        pause_clock(page)
        page.clock.run_for(60_000)
        self.assertEqual(polls.issued(), 0)
        page.clock.fast_forward(2**31)  # each timer due meanwhile fires once
        self.assertEqual(polls.issued(), 1)
