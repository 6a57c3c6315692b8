"""My processes: each requester finds their own processes again, and only theirs."""

from datetime import datetime
from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_ID
from plone.testing.zope import Browser

from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers import chains
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.views import new_gate

import lxml.html
import transaction


def rows(html):
    """``{process id: (job title, state, link)}`` of the page's table."""
    page = lxml.html.fromstring(html)
    return {
        row.get("data-process-id"): (row.xpath("string(td[1])").strip(), row.get("data-state"), row.xpath("td[1]/a/@href")[0])
        for row in page.xpath("//div[@id='netsight-async-processes']//tbody/tr")
    }


def cells(html):
    """``{process id: (job, state, started)}`` of the page's table: each cell's text on one line."""
    page = lxml.html.fromstring(html)
    return {
        row.get("data-process-id"): tuple(" ".join(row.xpath(f"string(td[{n}])").split()) for n in (1, 3, 5))
        for row in page.xpath("//div[@id='netsight-async-processes']//tbody/tr")
    }


class TestMyProcesses(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def my_processes(self, browser):
        browser.open(f"{self.site_url}/@@my-processes")
        return rows(browser.contents)

    def test_a_users_processes_newest_first_with_their_links(self):
        url, done, _answer = self.run_job("hello")
        running = self.browser.start(self.url("gate"), gate=new_gate(self))
        shown = self.my_processes(self.browser)
        self.assertEqual(list(shown), [running, done])  # newest first
        self.assertEqual(shown[done][:2], ("Hello", "done"))  # the job's title: its view's name made readable
        self.assertEqual(shown[done][2], f"{self.site_url}/@@hello/result?process_id={done}")
        self.assertIn(shown[running][1], ("queued", "running"))
        self.assertEqual(shown[running][2], f"{self.site_url}/@@gate/processing?process_id={running}")
        self.browser.open(shown[done][2])  # the link gives the result
        self.assertEqual(self.browser.contents, "Hello world!")
        self.assertNotIn(done, self.my_processes(self.browser))  # fetched: gone

    def test_nobody_sees_another_ones_processes(self):
        _url, process_id, _answer = self.run_job("hello")
        self.assertIn(process_id, self.my_processes(self.browser))
        self.assertEqual(self.my_processes(owner_browser(self.app, self.site_url)), {})
        anonymous = Browser(self.app)
        self.assertEqual(self.my_processes(anonymous), {})

    def test_the_same_user_id_in_another_site_is_not_this_one(self):
        process_id = registry.new_process_id()
        record = registry.ProcessRecord(process_id, "hello", "/other/folder", TEST_USER_ID, site="/other")
        registry.in_own_transaction(self.app._p_jar.db(), lambda root: registry.add(root._p_jar, record, "elsewhere", 1))
        _url, ours, _answer = self.run_job("hello")
        self.assertEqual(list(self.my_processes(self.browser)), [ours])

    def test_an_anonymous_browser_sees_its_own(self):
        anonymous = Browser(self.app)
        anonymous.open(f"{self.site_url}/@@gate")
        # A job that waits: a done one's processing page would lead this
        # browser on to its result, fetched once, and gone from the list.
        anonymous.post(f"{self.site_url}/@@gate", f"gate={new_gate(self)}")
        process_id = anonymous.url.rsplit("process_id=", 1)[1]
        self.assertIn(process_id, self.my_processes(anonymous))
        self.assertEqual(self.my_processes(Browser(self.app)), {})  # another browser: none

    def test_the_personal_menu_links_to_it(self):
        setRoles(self.portal, TEST_USER_ID, ["Member"])
        transaction.commit()
        self.browser.open(self.site_url)
        links = lxml.html.fromstring(self.browser.contents).xpath("//a[contains(@href, '@@my-processes')]")
        self.assertTrue(links, "no link to My processes on the page")

    def test_what_never_started_has_no_start_time_a_scheduled_one_says_when_it_starts(self):
        site = "/".join(self.portal.getPhysicalPath())
        made, due = chains.made(self.app._p_jar.db(), site, TEST_USER_ID)
        storage = self.app._p_jar.db().storage
        self.browser.open(f"{self.site_url}/@@my-processes")  # Plone may write once on a first page view
        before = storage.lastTransaction()
        self.browser.open(f"{self.site_url}/@@my-processes")
        self.assertEqual(storage.lastTransaction(), before)  # the list only reads
        shown = cells(self.browser.contents)
        self.assertEqual(
            shown[made["scheduled"]], (chains.TITLE, "Scheduled", f"Scheduled for {chains.at(due['scheduled'])}")
        )
        self.assertEqual(
            shown[made["retry"]], ("Later", "Scheduled Attempt 2 of 3", f"Scheduled for {chains.at(due['retry'])}")
        )
        self.assertEqual(shown[made["cancelled"]], ("Later", "Cancelled", "\u2013"))  # REST says started: null
        job, state, started = shown[made["failed"]]
        self.assertEqual((job, state), ("Later", "Failed Attempt 1 of 3"))
        self.assertRegex(started, r"^\d{4}-\d\d-\d\d \d\d:\d\d$")
        page = lxml.html.fromstring(self.browser.contents)
        (when,) = page.xpath(f"//tr[@data-process-id='{made['scheduled']}']/td[5]/time/@datetime")
        self.assertAlmostEqual(datetime.fromisoformat(when).timestamp(), due["scheduled"], delta=1)
        self.browse_in("it")
        self.browser.open(f"{self.site_url}/@@my-processes")
        shown = cells(self.browser.contents)
        self.assertEqual(shown[made["retry"]][2], f"Avvio previsto: {chains.at(due['retry'])}")
        self.assertIn("Tentativo 2 di 3", shown[made["retry"]][1])
