"""Coalesced progress: a job's reports cost at most one write per interval."""

from netsight.asynchronous import registry
from netsight.asynchronous.progress import FIRST
from netsight.asynchronous.progress import REPLACED
from netsight.asynchronous.progress import Reports
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.test_lifecycle import LifecycleTestCase
from ZODB.ActivityMonitor import ActivityMonitor

import time
import unittest


class TestCoalescedProgress(LifecycleTestCase):
    def setUp(self):
        super().setUp()
        self.setting("progress-interval", 1)

    def test_ten_thousand_reports_make_a_handful_of_writes(self):
        db = self.app._p_jar.db()
        monitor = ActivityMonitor()
        db.setActivityMonitor(monitor)
        self.addCleanup(db.setActivityMonitor, None)
        url = self.url("many-reports")
        process_id = self.browser.start(url, count="10000")
        answer = self.browser.wait_for(url, process_id)
        self.assertEqual(answer["state"], registry.DONE)
        # The last report before the end was written: its message stays.
        self.assertEqual(answer["message"], "report 10000")
        self.assertEqual(answer["completed"], 100)
        stores = sum(division["stores"] for division in monitor.getActivityAnalysis(divisions=1))
        # The start, the first report, one a second at most, the end, the polls' nothing:
        # against 10,000 reports (and 10,000 transactions) written one by one.
        self.assertLess(stores, 60, stores)

    def test_a_held_report_is_written_once_its_interval_is_over(self):
        url = self.url("many-reports")
        process_id = self.browser.start(url, count="3", gate=self.gate)
        # 30 is written at once, 60 and 90 come within the interval: 90 is
        # held, and written within about a second though the job says nothing more.
        answer = wait_until(
            lambda: (answer := self.browser.poll(url, process_id))["completed"] == 90 and answer,
            what="the held report",
        )
        self.assertEqual((answer["state"], answer["message"]), (registry.RUNNING, "report 3"))
        self.open_gate()
        self.assertEqual(self.browser.wait_for(url, process_id)["state"], registry.DONE)

    def test_a_cancel_is_noticed_at_the_next_report(self):
        url = self.url("gate")
        process_id = self.start_gated(report="1")
        self.running(process_id)
        self.browser.post(f"{url}/cancel", f"process_id={process_id}&_authenticator={self.browser.token}")
        self.assertEqual(self.browser.wait_for(url, process_id)["state"], registry.CANCELLED)


class TestHeldReportsInOrder(unittest.TestCase):
    def test_a_report_after_a_held_one_whose_interval_is_over_is_held_in_its_place(self):
        """The maintenance thread writes a held report once its interval is
        over; a newer report coming then replaces it (its message kept if
        the newer gives none), never written at once before it: the older
        one, written after, made the stored progress go back (seen on a
        cluster: 47 then 46.5)."""
        reports = Reports()
        reports.written("p")
        self.assertEqual(reports.hold("p", None, 46.5, "phase 2", 0.1), FIRST)  # an interval of 0.1 s
        wait_until(lambda: time.monotonic() >= reports.next_due(), what="the held report's interval over")
        self.assertEqual(reports.hold("p", None, 47, None, 0.1), REPLACED)  # None (written at once) before
        self.assertEqual(reports.due(), [("p", None, (47, "phase 2"))])
        self.assertIsNone(reports.hold("p", None, 47.5, None, 0))  # nothing held: written at once
