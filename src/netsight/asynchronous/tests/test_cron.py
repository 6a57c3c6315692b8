"""Cron expressions of periodic jobs: when each next fires, and which are refused."""

from datetime import datetime
from datetime import timezone

from netsight.asynchronous.cron import Cron
from netsight.asynchronous.cron import CronError

import unittest


def at(text):
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


class NextRunTests(unittest.TestCase):
    def next_runs(self, expression, after, count=3):
        cron, when, runs = Cron(expression), at(after), []
        for _ in range(count):
            when = cron.next_after(when)
            runs.append(when.strftime("%Y-%m-%d %H:%M"))
        return runs

    def test_daily_at_three(self):
        self.assertEqual(
            self.next_runs("0 3 * * *", "2026-12-05 20:22"),
            ["2026-12-06 03:00", "2026-12-07 03:00", "2026-12-08 03:00"],
        )

    def test_every_minute_skips_the_current_minute(self):
        self.assertEqual(
            self.next_runs("* * * * *", "2026-12-05 20:22"),
            ["2026-12-05 20:23", "2026-12-05 20:24", "2026-12-05 20:25"],
        )

    def test_step_of_fifteen_minutes(self):
        self.assertEqual(
            self.next_runs("*/15 * * * *", "2026-12-05 20:22", 4),
            ["2026-12-05 20:30", "2026-12-05 20:45", "2026-12-05 21:00", "2026-12-05 21:15"],
        )

    def test_list_range_and_ranged_step(self):
        self.assertEqual(
            self.next_runs("5,50 9-10 * * *", "2026-12-05 09:10", 4),
            ["2026-12-05 09:50", "2026-12-05 10:05", "2026-12-05 10:50", "2026-12-06 09:05"],
        )
        self.assertEqual(
            self.next_runs("0 8-18/4 * * *", "2026-12-05 09:00", 4),
            ["2026-12-05 12:00", "2026-12-05 16:00", "2026-12-06 08:00", "2026-12-06 12:00"],
        )

    def test_weekdays_and_sunday_as_seven(self):
        # 2026-12-05 is a Saturday.
        self.assertEqual(
            self.next_runs("30 7 * * 1-5", "2026-12-05 00:00"),
            ["2026-12-07 07:30", "2026-12-08 07:30", "2026-12-09 07:30"],
        )
        self.assertEqual(self.next_runs("0 0 * * 7", "2026-12-05 00:00", 1), ["2026-12-06 00:00"])
        self.assertEqual(self.next_runs("0 0 * * 0", "2026-12-05 00:00", 1), ["2026-12-06 00:00"])

    def test_day_of_month_or_day_of_week_when_both_are_given(self):
        # The 1st, or any Monday (Vixie cron): Mon 7th, Mon 14th, ..., Fri 1st January.
        self.assertEqual(
            self.next_runs("0 12 1 * 1", "2026-12-05 00:00", 5),
            ["2026-12-07 12:00", "2026-12-14 12:00", "2026-12-21 12:00", "2026-12-28 12:00", "2027-01-01 12:00"],
        )

    def test_month_and_leap_day(self):
        self.assertEqual(self.next_runs("0 0 29 2 *", "2026-12-05 00:00", 2), ["2028-02-29 00:00", "2032-02-29 00:00"])
        self.assertEqual(self.next_runs("0 6 1 1,7 *", "2026-12-05 00:00", 2), ["2027-01-01 06:00", "2027-07-01 06:00"])

    def test_aware_datetime_stays_aware(self):
        when = datetime(2026, 12, 5, 20, 22, 41, tzinfo=timezone.utc)
        self.assertEqual(Cron("0 3 * * *").next_after(when), datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc))

    def test_last_at_or_before(self):
        cron = Cron("0 3 * * *")
        self.assertEqual(cron.last_at_or_before(at("2026-12-05 20:22")), at("2026-12-05 03:00"))
        self.assertEqual(cron.last_at_or_before(at("2026-12-05 03:00")), at("2026-12-05 03:00"))
        self.assertEqual(cron.last_at_or_before(at("2026-12-05 02:59")), at("2026-12-04 03:00"))

    def test_never_fires(self):
        with self.assertRaises(CronError):
            Cron("0 0 31 2 *").next_after(at("2026-12-05 00:00"))


class RefusedTests(unittest.TestCase):
    def test_refused(self):
        for expression in (
            "0 3 * *",  # four fields
            "0 3 * * * *",  # six
            "60 * * * *",  # minute out of range
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",  # step 0
            "5-1 * * * *",  # backwards range
            "a * * * *",
            "MON * * * *",
            "1,,2 * * * *",
        ):
            with self.subTest(expression=expression), self.assertRaises(CronError):
                Cron(expression)
