"""Periodic jobs: a view started on a schedule, once per period, as its user, listed like any other process."""

from plone.app.testing import TEST_USER_ID
from zope.configuration import xmlconfig
from zope.configuration.exceptions import ConfigurationError

from netsight.asynchronous import claims
from netsight.asynchronous import periodic
from netsight.asynchronous import registry
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until

import logging
import lxml.html
import threading
import time
import transaction


ZCML = """
<configure xmlns:async="http://namespaces.plone.org/netsight.async">
  <include package="netsight.asynchronous" file="meta.zcml" />
  {}
</configure>
"""


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


class PeriodicTestCase(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.db = self.app._p_jar.db()
        self.site_path = "/".join(self.portal.getPhysicalPath())
        self.addCleanup(periodic.clear)
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        MAINTENANCE.claimer = None  # no periodic start of the maintenance thread, unless the test wants one

    def schedule(self, **given):
        values = dict(view="hello", context=self.site_path, user=TEST_USER_ID, every=1.0)
        values.update(given)
        schedule = periodic.Schedule(**values)
        periodic.register(schedule)
        return schedule

    def processes(self, view="hello"):
        """The records of ``view`` (id -> record), as a new transaction sees them."""
        transaction.begin()
        store = registry.stored(self.app._p_jar.root())
        if store is None:
            return {}
        return {pid: record for pid, record in store.records.items() if record.view_name == view}

    def schedule_record(self, schedule):
        transaction.begin()
        return periodic.records(self.app._p_jar.root()).get(schedule.key)


class TestDirective(PeriodicTestCase):
    def test_the_directive_registers_a_schedule(self):
        xmlconfig.string(
            ZCML.format(
                '<async:periodic view="hello" context="/plone/" every="3600" user="admin" />'
                '<async:periodic view="hello" context="/plone" cron="0 3 * * 1-5" user="admin" />'
            )
        )
        self.assertEqual(
            [(s.view, s.context, s.user, s.every, s.cron and s.cron.expression) for s in periodic.SCHEDULES],
            [("hello", "/plone", "admin", 3600.0, None), ("hello", "/plone", "admin", None, "0 3 * * 1-5")],
        )

    def test_a_wrong_schedule_fails_the_configuration(self):
        for attributes in ('every="0"', 'cron="61 * * * *"', 'every="5" cron="* * * * *"', ""):
            with self.subTest(attributes=attributes), self.assertRaises(ConfigurationError):
                xmlconfig.string(ZCML.format(f'<async:periodic view="hello" context="/plone" user="admin" {attributes} />'))
        self.assertEqual(periodic.SCHEDULES, [])


class TestPeriods(PeriodicTestCase):
    def test_a_period_is_started_once(self):
        schedule = self.schedule(every=60.0)
        now = 60.0 * 1_000_000 + 5
        first = periodic.start_due(self.db, now=now)
        self.assertEqual(len(first), 1)
        self.assertEqual(periodic.start_due(self.db, now=now + 50), [])  # the same period
        second = periodic.start_due(self.db, now=now + 60)  # the next one
        self.assertEqual(len(second), 1)
        processes = self.processes()
        self.assertEqual(set(processes), {*first, *second})
        for record in processes.values():
            self.assertEqual(record.owner, TEST_USER_ID)
            self.assertEqual(record.instance, registry.UNCLAIMED)  # any instance with a pool takes it
            self.assertEqual(record.context_path, self.site_path)
        self.assertEqual(self.schedule_record(schedule).process_id, second[0])

    def test_missed_periods_run_once(self):
        schedule = self.schedule(every=60.0)
        now = 60.0 * 1_000_000 + 5
        periodic.start_due(self.db, now=now)
        # Every instance was down for ten periods: one start, not ten.
        self.assertEqual(len(periodic.start_due(self.db, now=now + 600)), 1)
        self.assertEqual(len(periodic.start_due(self.db, now=now + 610)), 0)
        self.assertEqual(len(self.processes()), 2)
        self.assertEqual(self.schedule_record(schedule).period, int((now + 600) // 60))

    def test_two_instances_starting_the_same_period_start_it_once(self):
        self.schedule(every=60.0)
        for offset in (0, 60):  # the schedule's record made by the start, then there already
            now = 60.0 * 2_000_000 + offset
            barrier, started = threading.Barrier(2), []

            def start():
                barrier.wait()
                started.extend(periodic.start_due(self.db, now=now))

            threads = [threading.Thread(target=start) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.assertEqual(len(started), 1, started)
        self.assertEqual(len(self.processes()), 2)

    def test_a_cron_schedule_first_seen_waits_for_its_next_time(self):
        from netsight.asynchronous.cron import Cron

        self.schedule(every=None, cron=Cron("*/5 * * * *"))
        now = 300.0 * 6_000_000 + 10  # just after a five minutes' time
        self.assertEqual(periodic.start_due(self.db, now=now), [])
        self.assertEqual(periodic.start_due(self.db, now=now + 200), [])
        self.assertEqual(len(periodic.start_due(self.db, now=now + 300)), 1)

    def test_a_missing_view_context_or_user_is_an_error_once_per_period(self):
        log = Records()
        logger = logging.getLogger("netsight.async")
        logger.addHandler(log)
        self.addCleanup(logger.removeHandler, log)
        broken = [
            (self.schedule(view="no-such-view", every=60.0), "its view 'no-such-view' does not exist on /plone"),
            (self.schedule(context="/no/such/site", every=60.0), "its context /no/such/site does not exist"),
            (self.schedule(user="nobody-at-all", every=60.0), "its user 'nobody-at-all' does not exist"),
        ]
        now = 60.0 * 3_000_000
        for when in (now, now + 1, now + 60):
            self.assertEqual(periodic.start_due(self.db, now=when), [])
        self.assertEqual(self.processes("no-such-view"), {})
        self.assertEqual(len(self.processes()), 0)
        for schedule, problem in broken:
            self.assertEqual(self.schedule_record(schedule).error, problem)
            errors = [r for r in log.records if r.levelno == logging.ERROR and schedule.key in r.getMessage()]
            self.assertEqual(len(errors), 2, [r.getMessage() for r in errors])  # two periods, one error each


class TestRunning(PeriodicTestCase):
    def test_every_second_the_maintenance_thread_starts_it_and_a_worker_runs_it(self):
        setting(self, "claim-interval", 0.1)
        self.schedule(every=1.0)
        MAINTENANCE.claimer = claims.claim_queued
        MAINTENANCE.watch(self.db)

        def done():
            ended = [r for r in self.processes().values() if r.state == registry.DONE]
            return ended if len(ended) >= 2 else None

        ended = wait_until(done, timeout=30, what="two periodic jobs done")
        MAINTENANCE.claimer = None
        periods = {int(record.created // 1.0) for record in ended}
        self.assertEqual(len(periods), len(ended))  # one process per period
        for record in ended:
            self.assertEqual(record.owner, TEST_USER_ID)
            self.assertIsNone(record.error)
        # Listed as the user's like any other: My processes shows them.
        self.browser.open(f"{self.site_url}/@@my-processes")
        for record in ended:
            self.assertIn(record.process_id, self.browser.contents)


class TestControlPanel(PeriodicTestCase):
    def rows(self):
        """The control panel's "Periodic jobs", as a Manager reads it: (its text, the rows' texts)."""
        manager = owner_browser(self.app, self.site_url)
        manager.open(f"{self.site_url}/@@netsight-async-controlpanel")
        section = lxml.html.fromstring(manager.text).find_class("netsight-async-periodic")[0]
        rows = [" ".join(row.text_content().split()) for row in section.iter("tr")]
        return " ".join(section.text_content().split()), rows[1:]

    def test_without_a_schedule_it_says_so(self):
        text, rows = self.rows()
        self.assertIn("No periodic job is registered on this instance.", text)
        self.assertEqual(rows, [])

    def test_the_schedules_with_their_last_and_next_runs_and_problems(self):
        from netsight.asynchronous.cron import Cron

        self.schedule(every=3600.0)
        self.schedule(view="no-such-view", every=None, cron=Cron("0 3 * * *"))
        _text, rows = self.rows()
        self.assertRegex(rows[0], rf"^hello {self.site_path} every 3600 s {TEST_USER_ID} not yet \d{{4}}-\d\d-\d\d \d\d:00:00 UTC$")
        self.assertRegex(rows[1], rf"^no-such-view {self.site_path} 0 3 \* \* \* {TEST_USER_ID} not yet .* UTC$")
        periodic.start_due(self.db)
        periodic.start_due(self.db, now=time.time() + 86400 + 60)  # the cron schedule's next time has come
        _text, rows = self.rows()
        self.assertRegex(rows[0], rf"^hello {self.site_path} every 3600 s {TEST_USER_ID} \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC ")
        self.assertTrue(rows[1].endswith("its view 'no-such-view' does not exist on /plone"), rows[1])


class TestPeriodicRetries(PeriodicTestCase):
    def test_a_periodic_views_retry_settings_retry_its_failed_job(self):
        self.schedule(view="periodic-flaky", every=3600.0)
        (first,) = periodic.start_due(self.db)
        record = self.processes("periodic-flaky")[first]
        self.assertEqual((record.max_attempts, record.retryable), (2, True))
        setting(self, "claim-interval", 0.1)
        MAINTENANCE.claimer = claims.claim_queued  # a worker claims it, and its retry when due
        MAINTENANCE.watch(self.db)

        def ended():
            records = self.processes("periodic-flaky")
            done = [r for r in records.values() if r.state == registry.DONE]
            return done and records

        records = wait_until(ended, timeout=30, what="the periodic job's retry done")
        failed, retry = records[first], records[records[first].retried_by]
        self.assertEqual((failed.state, failed.attempt), (registry.FAILED, 1))
        self.assertEqual((retry.state, retry.attempt, retry.retry_of, retry.owner), (registry.DONE, 2, first, TEST_USER_ID))
        url = f"{self.site_url}/periodic-flaky"  # what its owner's pages say
        answer = self.browser.poll(url, first)
        self.assertEqual((answer["state"], answer["retried_by"], answer["attempt_message"]), ("failed", retry.process_id, "Attempt 1 of 2 failed"))
        self.assertEqual(self.browser.result(url, retry.process_id), "attempt 2")
