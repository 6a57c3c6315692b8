"""The times the pages show are in the site's time zone (Site Setup, Date and Time), else the server's."""

from datetime import datetime
from plone.registry.interfaces import IRegistry
from zoneinfo import ZoneInfo
from zope.component import getUtility

from netsight.asynchronous import sitetime
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.tests.test_scheduled import ScheduledTestCase

import lxml.html
import time
import transaction
import unittest


TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9 all year: never the server's (UTC here) by chance


class TestSiteTime(ScheduledTestCase):

    def zone(self, name):
        registry = getUtility(IRegistry, context=self.portal)
        before = registry["plone.portal_timezone"]
        self.addCleanup(self._set_zone, before)
        self._set_zone(name)

    def _set_zone(self, name):
        transaction.begin()
        getUtility(IRegistry, context=self.portal)["plone.portal_timezone"] = name
        transaction.commit()

    def schedule(self):
        """A job of ``later`` scheduled an hour ahead (cancelled at the end); its id and when it is due."""
        due = time.time() + 3600
        process_id = self.browser.start(self.url("later"), seconds=3600)
        self.addCleanup(self.cancel, process_id)
        return process_id, due

    def cancel(self, process_id):
        self.browser.post(f"{self.url('later')}/cancel", f"process_id={process_id}&_authenticator={self.browser.token}")

    def clock(self, due, tz):
        at, now = datetime.fromtimestamp(due, tz), datetime.now(tz)
        return f"{at:%H:%M}" if at.date() == now.date() else f"{at:%Y-%m-%d %H:%M}"

    def test_a_scheduled_job_is_shown_in_the_sites_time_zone(self):
        self.zone("Asia/Tokyo")
        process_id, due = self.schedule()
        self.browser.open(f"{self.url('later')}/processing?process_id={process_id}")
        self.assertIn(f"Scheduled for {self.clock(due, TOKYO)}", self.browser.text)
        answer = self.browser.poll(self.url("later"), process_id)
        self.assertTrue(answer["scheduled_for"].endswith("+09:00"), answer["scheduled_for"])
        self.assertAlmostEqual(datetime.fromisoformat(answer["scheduled_for"]).timestamp(), due, delta=60)
        # The lists too: My processes and the Managers' list.
        self.browser.open(f"{self.site_url}/@@my-processes")
        self.assertIn(f"Scheduled for {self.clock(due, TOKYO)}", " ".join(self.browser.text.split()))
        times = lxml.html.fromstring(self.browser.contents).xpath("//time/@datetime")
        self.assertTrue(times and all(value.endswith("+09:00") for value in times), times)
        manager = owner_browser(self.app, self.site_url)
        manager.open(f"{self.site_url}/@@netsight-async-processes?state=scheduled")
        self.assertIn(f"Scheduled for {self.clock(due, TOKYO)}", " ".join(manager.text.split()))

    def test_without_a_site_time_zone_the_servers_applies(self):
        self.zone(None)
        process_id, due = self.schedule()
        self.browser.open(f"{self.url('later')}/processing?process_id={process_id}")
        self.assertIn(f"Scheduled for {self.clock(due, None)}", self.browser.text)


class TestZone(unittest.TestCase):
    """Outside a site (no registry): the server's local time, aware."""

    def test_outside_a_site_the_servers_local_time(self):
        self.assertIsNone(sitetime.zone())
        at = sitetime.at(0)
        self.assertEqual(at.utcoffset(), datetime.fromtimestamp(0).astimezone().utcoffset())
        self.assertEqual(sitetime.at(0, TOKYO).hour, 9)
        self.assertIsNone(sitetime.iso(None))
        self.assertEqual(sitetime.iso(0, "seconds"), datetime.fromtimestamp(0).astimezone().isoformat(timespec="seconds"))
