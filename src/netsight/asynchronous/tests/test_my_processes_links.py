"""My processes is where people look for their processes: linked, and its rows removable by their owner.

The personal menu links to it just above "Log out"; the processing page
links to it, for an anonymous visitor too (My processes knows them by
their cookie). Its owner removes a failed, cancelled or interrupted row, or
a kept result, with a POST that carries plone.protect's token (an
anonymous visitor's: not from another site); nobody removes anyone else's.
"""

from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_ID
from urllib.parse import urlencode

from netsight.asynchronous import registry
from netsight.asynchronous.browser.processes import LIMIT
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.records import made
from netsight.asynchronous.tests.helpers.views import new_gate

import lxml.html
import transaction


STRANGER, STRANGER_PASSWORD = "stranger", "stranger-secret"


def my_rows(browser, site_url):
    """``{process id: row element}`` of the browser's My processes."""
    browser.open(f"{site_url}/@@my-processes")
    assert browser.status == 200, browser.status
    page = lxml.html.fromstring(browser.contents)
    return {row.get("data-process-id"): row for row in page.xpath("//div[@id='netsight-async-processes']//tbody/tr")}


def remove_form(row):
    """The Remove form of a row, or None."""
    forms = row.xpath(".//form[contains(@class, 'netsight-async-remove')]")
    return forms[0] if forms else None


class MyProcessesTestCase(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.portal.acl_users.userFolderAddUser(STRANGER, STRANGER_PASSWORD, ["Member"], [])
        setRoles(self.portal, TEST_USER_ID, ["Member"])
        transaction.commit()

    def remove(self, browser, process_id, token=True, **headers):
        """POST Remove of ``process_id`` to My processes, as its form does (with
        the token its row's form holds, or another page's)."""
        form = {"action": "remove", "process_id": process_id}
        row = my_rows(browser, self.site_url).get(process_id) if token else None
        shown = row is not None and remove_form(row) is not None
        value = remove_form(row).xpath("string(.//input[@name='_authenticator']/@value)") if shown else None
        if token and (value or browser.token):
            form["_authenticator"] = value or browser.token
        for name, value in headers.items():
            browser.addHeader(name, value)
        browser.post(f"{self.site_url}/@@my-processes", urlencode(form))
        return browser.status

    def failed(self, browser=None):
        browser = browser or self.browser
        url = self.url("fails")
        process_id = browser.start(url)
        self.assertEqual(browser.wait_for(url, process_id)["state"], registry.FAILED)
        return process_id


class TestLinks(MyProcessesTestCase):
    def test_the_personal_menu_has_it_just_above_log_out(self):
        self.browser.open(self.site_url)
        menu = lxml.html.fromstring(self.browser.contents).get_element_by_id("collapse-personaltools")
        ids = [link.get("id") for link in menu.xpath(".//a[@id]")]
        self.assertEqual(ids[-2:], ["personaltools-netsight-async-processes", "personaltools-logout"])
        (link,) = menu.xpath(".//a[@id='personaltools-netsight-async-processes']")
        self.assertEqual(link.get("href"), f"{self.site_url}/@@my-processes")
        self.assertEqual(link.text_content().strip(), "My processes")

    def test_the_processing_page_links_to_it(self):
        url = self.url("gate")
        process_id = self.browser.start(url, gate=new_gate(self))
        self.browser.open(f"{url}/processing?process_id={process_id}")
        (link,) = lxml.html.fromstring(self.browser.contents).xpath("//*[@class[contains(., 'netsight-async-my-processes')]]//a")
        self.assertEqual(link.get("href"), f"{self.site_url}/@@my-processes")
        self.assertEqual(link.text_content().strip(), "My processes")
        self.browser.open(link.get("href"))
        self.assertIn(process_id, my_rows(self.browser, self.site_url))

    def test_an_anonymous_visitor_finds_it_on_the_processing_page_and_its_process_there(self):
        visitor = JobBrowser(self.app, self.site_url, user=None)
        visitor.open(f"{self.site_url}/@@gate")
        visitor.post(f"{self.site_url}/@@gate", urlencode({"gate": new_gate(self)}))
        self.assertEqual(visitor.status, 303)
        processing = visitor.headers["Location"]
        process_id = processing.rpartition("process_id=")[2]
        visitor.open(processing)
        (link,) = lxml.html.fromstring(visitor.contents).xpath("//*[@class[contains(., 'netsight-async-my-processes')]]//a")
        self.assertEqual(link.get("href"), f"{self.site_url}/@@my-processes")
        self.assertEqual(list(my_rows(visitor, self.site_url)), [process_id])
        self.assertEqual(my_rows(JobBrowser(self.app, self.site_url, user=None), self.site_url), {})  # another browser


class TestRemove(MyProcessesTestCase):
    def test_which_rows_have_a_remove_button(self):
        failed = self.failed()
        url = self.url("gate")
        cancelled = self.browser.start(url, gate=new_gate(self), report="1")  # stops at its next report
        self.browser.post(f"{url}/cancel", urlencode({"process_id": cancelled, "_authenticator": self.browser.token}))
        self.assertEqual(self.browser.wait_for(url, cancelled)["state"], registry.CANCELLED)
        _url, done, _answer = self.run_job("hello")  # its result not yet seen: no button
        kept_url, kept, _answer = self.run_job("keeps-result")
        self.browser.result(kept_url, kept)  # seen once, kept: a button
        _url, shown, _answer = self.run_job("hello")
        self.browser.result(self.url("hello"), shown)  # seen once, gone: not listed
        running = self.browser.start(self.url("gate"), gate=new_gate(self))
        rows = my_rows(self.browser, self.site_url)
        self.assertNotIn(shown, rows)
        buttons = {pid: remove_form(row) is not None for pid, row in rows.items()}
        self.assertEqual(
            buttons, {failed: True, cancelled: True, done: False, kept: True, running: False}
        )
        kept_row = rows[kept]
        self.assertEqual(kept_row.xpath("string(td[1]/a/@href)"), f"{kept_url.rsplit('/', 1)[0]}/@@keeps-result/result?process_id={kept}")
        self.assertIn("can be seen again until", kept_row.xpath("string(td[3])"))
        form = remove_form(rows[failed])
        self.assertEqual(form.get("method"), "post")
        self.assertEqual(form.get("action"), f"{self.site_url}/@@my-processes")
        self.assertRegex(form.xpath("string(.//input[@name='_authenticator']/@value)"), r"^[0-9a-f]{40}$")

    def test_the_owner_removes_a_failed_row_and_a_kept_result(self):
        failed = self.failed()
        kept_url, kept, _answer = self.run_job("keeps-result")
        self.browser.result(kept_url, kept)
        for process_id in (failed, kept):
            with self.subTest(process_id=process_id):
                self.assertEqual(self.remove(self.browser, process_id), 303)
                self.assertEqual(self.browser.headers["Location"], f"{self.site_url}/@@my-processes")
                self.assertIsNone(self.fresh_record(process_id))
                self.browser.open(self.browser.headers["Location"])
                self.assertIn(f"Removed {process_id}.", self.browser.text)
                self.assertNotIn(process_id, my_rows(self.browser, self.site_url))
        self.browser.open(f"{kept_url}/result?process_id={kept}")
        self.assertEqual(self.browser.status, 404)  # the kept result went with it

    def test_without_the_token_nothing_is_removed(self):
        failed = self.failed()
        self.assertEqual(self.remove(self.browser, failed, token=False), 403)
        self.assertIn("The form could not be sent.", self.browser.text)
        self.assertIsNotNone(self.fresh_record(failed))

    def test_nobody_removes_anyone_elses(self):
        failed = self.failed()
        stranger = JobBrowser(self.app, self.site_url, STRANGER, STRANGER_PASSWORD)
        self.assertEqual(self.remove(stranger, failed), 303)
        stranger.open(stranger.headers["Location"])
        self.assertIn(f"There is no process {failed}.", stranger.text)
        self.assertIsNotNone(self.fresh_record(failed))
        self.assertIn(failed, my_rows(self.browser, self.site_url))

    def test_an_active_process_is_not_removed(self):
        running = self.browser.start(self.url("gate"), gate=new_gate(self))
        self.assertEqual(self.remove(self.browser, running), 303)
        self.assertIsNotNone(self.fresh_record(running))

    def test_an_anonymous_visitor_removes_its_own_but_not_from_another_site(self):
        visitor = JobBrowser(self.app, self.site_url, user=None)
        visitor.open(f"{self.site_url}/@@fails")
        visitor.post(f"{self.site_url}/@@fails", "")
        self.assertEqual(visitor.status, 303)
        process_id = visitor.headers["Location"].rpartition("process_id=")[2]
        self.assertEqual(visitor.wait_for(self.url("fails"), process_id)["state"], registry.FAILED)
        self.assertIsNotNone(remove_form(my_rows(visitor, self.site_url)[process_id]))
        self.assertEqual(self.remove(visitor, process_id, **{"Sec-Fetch-Site": "cross-site"}), 403)
        self.assertIsNotNone(self.fresh_record(process_id))
        other = JobBrowser(self.app, self.site_url, user=None)  # another browser: not its process
        self.assertEqual(self.remove(other, process_id), 303)
        self.assertIsNotNone(self.fresh_record(process_id))
        visitor.addHeader("Sec-Fetch-Site", "same-origin")
        self.assertEqual(self.remove(visitor, process_id), 303)
        self.assertIsNone(self.fresh_record(process_id))


class TestAfterManyShownResults(MyProcessesTestCase):
    def test_the_older_rows_are_still_listed(self):
        site, db = "/".join(self.portal.getPhysicalPath()), self.app._p_jar.db()
        failed = made(db, site, TEST_USER_ID, 2, registry.FAILED)
        waiting = made(db, site, TEST_USER_ID, 1)
        made(db, site, TEST_USER_ID, LIMIT + 5, shown=True)  # newer than them all, each fetched once
        rows = my_rows(self.browser, self.site_url)
        self.assertEqual(list(rows), [*waiting, *failed[::-1]])
        self.assertIn(f"result?process_id={waiting[0]}", self.browser.text)

    def test_no_more_than_its_limit_of_rows(self):
        site = "/".join(self.portal.getPhysicalPath())
        failed = made(self.app._p_jar.db(), site, TEST_USER_ID, LIMIT + 3, registry.FAILED)
        self.assertEqual(list(my_rows(self.browser, self.site_url)), failed[::-1][:LIMIT])
