"""All processes, for the site's managers: every user's, filtered, batched, cancelled and removed from the page."""

from datetime import datetime
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import TEST_USER_ID
from plone.testing.zope import login
from plone.testing.zope import logout
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlparse

from netsight.asynchronous import registry
from netsight.asynchronous.replay import CapturedResponse
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers import chains
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until

import lxml.html
import time
import transaction


PAGE = "@@netsight-async-processes"
ELSEWHERE = "elsewhere"  # another instance, alive: its queued jobs stay queued
GONE = "gone"  # an instance that said it stopped: its running jobs read interrupted
OWNER_FILTER = "//form[contains(@class, 'netsight-async-filters')]//input[@name='owner']/@value"
STEP = 0.01  # seconds between two records made directly: their ids sort as they were made


def rows(html):
    """The table's rows, in order: a dict of each one's cells."""
    page = lxml.html.fromstring(html)
    found = []
    for row in page.xpath("//div[@id='netsight-async-all-processes']//tbody/tr"):
        cells = [" ".join(cell.text_content().split()) for cell in row.xpath("td")]
        found.append(
            {
                "process_id": row.get("data-process-id"),
                "state": row.get("data-state"),
                "title": row.xpath("string(td[1]/span[contains(@class, 'netsight-async-title')])"),
                "view": row.xpath("string(td[1]/small[1]/code)"),
                "context": cells[1],
                "context_url": row.xpath("td[2]/a/@href")[0],
                "owner": cells[2],
                "state_text": cells[3],
                "progress": cells[4],
                "message": cells[5],
                "started": cells[6],
                "run_time": cells[7],
                "instance": cells[8],
                "button": cells[9],
            }
        )
    return found


def ids(html):
    return [row["process_id"] for row in rows(html)]


def action_form(html, process_id):
    """``(action URL, fields)`` of the form of ``process_id``'s row, with its button's name and value."""
    page = lxml.html.fromstring(html)
    (form,) = page.xpath(f"//tr[@data-process-id='{process_id}']//form")
    fields = {field.get("name"): field.get("value") for field in form.xpath(".//input")}
    (button,) = form.xpath(".//button")
    fields[button.get("name")] = button.get("value")
    return form.get("action"), fields


def notices(html):
    """The texts of the page's notices of values it could not read."""
    page = lxml.html.fromstring(html)
    return [" ".join(node.text_content().split()) for node in page.xpath("//div[@id='netsight-async-all-processes']/div[@role='alert']")]


def status_messages(html):
    """The texts of Plone's status messages on the page (after their kind: "Info", "Warning")."""
    page = lxml.html.fromstring(html)
    return [" ".join(node.text_content().split()) for node in page.xpath("//div[contains(@class, 'portalMessage')]")]


def captured():
    return CapturedResponse(200, "OK", {"content-type": "text/plain"}, [], {}, b"done")


# What a record made directly goes through after it was queued.
ENDINGS = {
    registry.QUEUED: lambda r: True,
    registry.RUNNING: lambda r: r.start(r.instance) and r.report(40, "Step 2 of 4"),
    registry.DONE: lambda r: r.start(r.instance) and r.finish(captured()),
    registry.FAILED: lambda r: r.start(r.instance) and r.fail("ValueError: no such row"),
    registry.CANCELLED: lambda r: r.request_cancel(),
}


class TestAllProcesses(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.page_url = f"{self.site_url}/{PAGE}"
        self.manager = owner_browser(self.app, self.site_url)
        self.site_path = "/".join(self.portal.getPhysicalPath())

    def add(
        self, count, state=registry.FAILED, owner="alice", view="hello", instance=ELSEWHERE, anonymous_key=None, site=None,
        queue=None,
    ):
        """``count`` records made directly, STEP apart, the last now; their ids, oldest first.

        In a transaction of their own, retried on conflict: a job of the test may write meanwhile.
        """
        now = time.time()
        made = [registry.new_process_id(now - (count - 1 - number) * STEP) for number in range(count)]

        def write(root):
            registry.beat_in(root, ELSEWHERE)
            registry.beat_in(root, GONE, stopped=True)
            for number, process_id in enumerate(made):
                site_path = self.site_path if site is None else site
                record = registry.ProcessRecord(process_id, view, f"{site_path}/folder", owner, anonymous_key, site_path)
                record.created = now - (count - 1 - number) * STEP
                record.queue = queue
                registry.add(root._p_jar, record, instance, number)
                assert registry.change_in(root, process_id, ENDINGS[state]), state

        registry.in_own_transaction(self.app._p_jar.db(), write)
        transaction.begin()  # the test's connection sees them
        return made

    def open(self, browser=None, **query):
        browser = browser or self.manager
        browser.open(f"{self.page_url}?{urlencode(query)}" if query else self.page_url)
        return browser

    def act(self, process_id, **query):
        """Post the form of ``process_id``'s row on the page of ``query``; the redirect's location."""
        self.open(**query)
        url, fields = action_form(self.manager.text, process_id)
        self.manager.post(url, urlencode(fields))
        self.assertEqual(self.manager.status, 303, self.manager.text[:500])
        return self.manager.headers["Location"]

    def assertMessage(self, text):
        """The manager's page says ``text`` in a status message."""
        messages = status_messages(self.manager.text)
        self.assertTrue(any(message.endswith(text) for message in messages), (text, messages))

    def stored_state(self, process_id):
        record = self.fresh_record(process_id)
        return None if record is None else record.state

    def test_a_manager_sees_every_users_processes_with_the_columns(self):
        _url, done, _answer = self.run_job("hello")  # the Member's
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        anonymous_one = anonymous.start(self.url("hello"))
        anonymous.wait_for(self.url("hello"), anonymous_one)
        (failed,) = self.add(1, owner="alice")
        job = HeldJob(self, 40, messages=["Step 2 of 4"])
        job.reached()
        self.open()
        self.assertEqual(self.manager.status, 200)
        page = lxml.html.fromstring(self.manager.text)
        self.assertEqual(page.xpath("//h1")[0].text_content(), "Background processes: all processes")
        (table,) = page.xpath("//table[contains(@class, 'table-striped')]")
        self.assertEqual(" ".join(table.xpath("caption")[0].text_content().split()), "Processes 1 to 4 of 4")
        self.assertEqual(
            [" ".join(th.text_content().split()) for th in table.xpath("thead//th")],
            ["Job", "On", "Owner", "State", "Progress", "Message", "Started", "Run time", "Instance", "Actions"],
        )
        shown = {row["process_id"]: row for row in rows(self.manager.text)}
        self.assertEqual(list(shown), [job.process_id, failed, anonymous_one, done])  # newest first
        running = shown[job.process_id]
        self.assertEqual((running["view"], running["owner"], running["state"]), ("progress", TEST_USER_ID, "running"))
        self.assertEqual((running["title"], shown[done]["title"]), ("Progress", "Hello"))  # their views' names made readable
        self.assertEqual((running["state_text"], running["progress"]), ("Running", "40%"))
        self.assertEqual((running["message"], running["button"]), ("Step 2 of 4", "Cancel"))
        self.assertRegex(running["started"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertRegex(running["run_time"], r"^\d+\.\d s$")
        self.assertTrue(running["instance"])
        self.assertEqual((running["context"], running["context_url"]), (self.site_path, self.site_url))
        self.assertEqual(shown[done]["owner"], TEST_USER_ID)
        self.assertEqual((shown[done]["state_text"], shown[done]["button"]), ("Done: the result is ready", "Remove"))
        self.assertEqual(shown[anonymous_one]["owner"], "Anonymous")
        self.assertEqual(shown[failed]["owner"], "alice")
        self.assertEqual((shown[failed]["state_text"], shown[failed]["instance"]), ("Failed", ELSEWHERE))
        self.assertEqual(shown[failed]["message"], "ValueError: no such row")  # the error: Managers see it

    def test_a_result_shown_once_is_neither_listed_nor_counted(self):
        done = self.add(3, registry.DONE)
        for process_id in done[:2]:
            self.assertIsNotNone(registry.take(self.app._p_jar.db(), process_id))
        transaction.begin()
        self.assertEqual(ids(self.open().text), [done[2]])
        self.assertEqual(ids(self.open(state=registry.DONE).text), [done[2]])
        self.assertEqual(ids(self.open(owner="alice").text), [done[2]])
        self.assertEqual(registry.count(self.app._p_jar.root(), self.site_path, registry.DONE), 1)

    def test_a_kept_result_past_its_time_reads_shown_without_a_link(self):
        (process_id,) = self.add(1, registry.DONE)
        self.assertIsNotNone(registry.take(self.app._p_jar.db(), process_id, keep_until=time.time() - 1))
        (row,) = rows(self.open().text)  # until housekeeping drops its result
        self.assertEqual(row["state_text"], "Done: the result was shown")
        self.assertNotIn(f"result?process_id={process_id}", self.manager.text)

    def test_a_queued_process_never_started(self):
        (queued,) = self.add(1, state=registry.QUEUED, owner="bob")
        self.open(state="queued")
        (row,) = rows(self.manager.text)
        self.assertEqual((row["process_id"], row["instance"]), (queued, ELSEWHERE))
        self.assertEqual(row["state_text"], "Waiting to start")
        self.assertEqual((row["started"], row["run_time"], row["progress"]), ("\u2013", "\u2013", ""))

    def test_what_never_started_says_so_a_scheduled_one_when_it_starts_a_retry_its_attempt(self):
        made, due = chains.made(self.app._p_jar.db(), self.site_path, "alice")
        transaction.begin()
        shown = {row["process_id"]: row for row in rows(self.open().text)}
        scheduled, retry = shown[made["scheduled"]], shown[made["retry"]]
        self.assertEqual((scheduled["title"], scheduled["view"]), (chains.TITLE, "later"))  # its title, and its view
        self.assertEqual(scheduled["started"], f"Scheduled for {chains.at(due['scheduled'])}")
        self.assertEqual((scheduled["state_text"], scheduled["run_time"], scheduled["instance"]), ("Scheduled", "\u2013", "unclaimed"))
        self.assertEqual(retry["started"], f"Scheduled for {chains.at(due['retry'])}")
        self.assertEqual(retry["state_text"], "Scheduled Attempt 2 of 3")
        self.assertEqual(shown[made["failed"]]["state_text"], "Failed Attempt 1 of 3")
        self.assertRegex(shown[made["failed"]]["started"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        cancelled = shown[made["cancelled"]]
        self.assertEqual((cancelled["state_text"], cancelled["started"], cancelled["run_time"]), ("Cancelled", "\u2013", "\u2013"))
        self.assertEqual(cancelled["instance"], "\u2013")  # it ended before any instance claimed it
        # The time is a machine-readable <time> too.
        page = lxml.html.fromstring(self.manager.text)
        (when,) = page.xpath(f"//tr[@data-process-id='{made['scheduled']}']//td[contains(@class, 'netsight-async-started')]/time/@datetime")
        self.assertAlmostEqual(datetime.fromisoformat(when).timestamp(), due["scheduled"], delta=1)
        self.browse_in("de")
        self.manager.addHeader("Accept-Language", "de")
        shown = {row["process_id"]: row for row in rows(self.open().text)}
        self.assertEqual(shown[made["scheduled"]]["started"], f"Geplant für {chains.at(due['scheduled'])}")
        self.assertEqual(shown[made["retry"]]["state_text"], "Geplant Versuch 2 von 3")

    def test_the_queue_filter_offers_the_queues_known(self):
        setting(self, "queues", "default nightly")  # this instance's setting
        (waiting,) = self.add(1, state=registry.QUEUED, instance=registry.UNCLAIMED, queue="exports")  # a record's
        registry.in_own_transaction(  # a live instance's heartbeat
            self.app._p_jar.db(), lambda root: registry.beat_in(root, "worker-2", queues=["reports"])
        )
        transaction.begin()
        storage = self.app._p_jar.db().storage
        self.open(queue="exports")  # Plone may write once on a first page view
        before = storage.lastTransaction()
        self.open(queue="exports")
        self.assertEqual(storage.lastTransaction(), before)  # a read: the queues known are looked up, not written
        page = lxml.html.fromstring(self.manager.text)
        (field,) = page.xpath("//input[@id='netsight-async-queue']")
        self.assertEqual(field.get("value"), "exports")  # ?queue= still fills it
        offered = page.xpath(f"//datalist[@id='{field.get('list')}']/option/@value")
        self.assertEqual(offered[0], "default")
        self.assertLessEqual({"default", "nightly", "reports", "exports"}, set(offered))
        self.assertEqual(ids(self.manager.text), [waiting])

    def test_the_filter_form_is_a_get_without_a_token(self):
        made = self.add(3)
        self.open()
        page = lxml.html.fromstring(self.manager.text)
        (filters,) = [number for number, form in enumerate(page.forms) if "netsight-async-filters" in form.get("class", "")]
        self.assertEqual(page.forms[filters].method.lower(), "get")
        form = self.manager.getForm(index=filters)
        self.manager.getControl(name="owner").value = "alice"
        self.manager.getControl(name="queue").value = "default"
        form.submit()
        self.assertEqual(self.manager.status, 200)
        query = parse_qs(urlparse(self.manager.url).query)
        self.assertNotIn("_authenticator", query)
        self.assertEqual((query["owner"], query["queue"]), (["alice"], ["default"]))
        self.assertEqual(ids(self.manager.text), made[::-1])
        # The actions' POST forms keep their token.
        self.assertTrue(all(fields.get("_authenticator") for fields in (action_form(self.manager.text, pid)[1] for pid in made)))

    def test_the_batch_links_keep_the_queue_filter(self):
        made = self.add(60)[::-1]
        self.open(queue="default", b_size="20")
        page = lxml.html.fromstring(self.manager.text)
        (following,) = page.xpath("//ul[contains(@class, 'pagination')]//li[contains(@class, 'next')]/a/@href")
        self.assertEqual(parse_qs(urlparse(following).query)["queue"], ["default"])
        self.manager.open(following)
        self.assertEqual(ids(self.manager.text), made[20:40])

    def test_a_site_administrator_sees_every_process_as_a_manager_does(self):
        # The page needs "netsight.async: Manage processes", as the control panel does (test_site_administrator).
        added = self.add(2)
        self.portal.acl_users.userFolderAddUser("siteadmin", "secret", ["Site Administrator"], [])
        transaction.commit()
        admin = JobBrowser(self.app, self.site_url, "siteadmin", "secret")
        for url in (f"{self.site_url}/@@netsight-async-controlpanel", self.page_url):
            admin.open(url)
            self.assertEqual(admin.status, 200, url)
        self.assertEqual(sorted(ids(admin.text)), sorted(added))

    def test_refused_to_a_member_and_to_anonymous(self):
        self.add(2)
        self.open(self.browser)
        self.assertNotEqual(self.browser.status, 200)
        self.assertEqual(rows(self.browser.text), [])
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        self.open(anonymous)
        self.assertNotEqual(anonymous.status, 200)
        self.assertEqual(rows(anonymous.text), [])

    def test_refused_to_a_member_who_owns_or_manages_a_folder(self):
        self.add(2)
        login(self.app.acl_users, SITE_OWNER_NAME)
        self.addCleanup(logout)
        self.portal.invokeFactory("Folder", "theirs")
        folder = self.portal["theirs"]
        folder.manage_setLocalRoles(TEST_USER_ID, ["Owner", "Manager", "Site Administrator"])
        folder.reindexObjectSecurity()
        transaction.commit()
        logout()
        below = folder.absolute_url()
        for url in (self.page_url, f"{below}/{PAGE}", f"{below}/netsight-async-processes", f"{below}/{PAGE}?state=done"):
            self.browser.open(url)
            self.assertNotEqual(self.browser.status, 200, url)
            self.assertEqual(rows(self.browser.text), [], url)
        # Their local roles stay theirs: the folder's own page answers them.
        self.browser.open(folder.absolute_url())
        self.assertEqual(self.browser.status, 200)

    def test_the_control_panel_links_to_it(self):
        self.manager.open(f"{self.site_url}/@@netsight-async-controlpanel")
        (link,) = lxml.html.fromstring(self.manager.text).xpath(f"//a[contains(@href, '{PAGE}')]")
        self.assertEqual(link.text_content().strip(), "All processes")
        self.manager.open(link.get("href"))
        self.assertEqual(self.manager.status, 200)

    def test_in_the_users_language(self):
        (queued,) = self.add(1, state=registry.QUEUED, owner="bob")
        self.add(1)
        self.browse_in("de")
        self.manager.addHeader("Accept-Language", "de")
        self.open()
        page = lxml.html.fromstring(self.manager.text)
        self.assertEqual(page.xpath("//h1")[0].text_content(), "Hintergrundprozesse: alle Prozesse")
        self.assertEqual(" ".join(page.xpath("//caption")[0].text_content().split()), "Prozesse 1 bis 2 von 2")
        options = page.xpath("//select[@name='state']/option/text()")
        self.assertEqual(options[:3], ["Alle Status", "Geplant", "Wartet auf den Start"])
        self.act(queued)
        self.manager.open(self.manager.headers["Location"])
        self.assertMessage(f"hello ({queued}) abgebrochen.")
        self.open(state="lost")
        self.assertIn("Es gibt keinen Status \u201elost\u201c: Alle Status werden gezeigt.", self.manager.text)

    def test_filters_by_state_and_owner(self):
        alices = self.add(3, owner="alice")
        bobs = self.add(2, state=registry.QUEUED, owner="bob")
        cancelled = self.add(1, state=registry.CANCELLED, owner="alice")
        self.open(state="failed")
        self.assertEqual(ids(self.manager.text), alices[::-1])
        page = lxml.html.fromstring(self.manager.text)
        self.assertEqual(page.xpath("//select[@name='state']/option[@selected]/@value"), ["failed"])
        self.open(owner="bob")
        self.assertEqual(ids(self.manager.text), bobs[::-1])
        self.assertEqual([row["button"] for row in rows(self.manager.text)], ["Cancel", "Cancel"])
        self.assertEqual(lxml.html.fromstring(self.manager.text).xpath(OWNER_FILTER), ["bob"])
        self.open(owner="alice")
        self.assertEqual(ids(self.manager.text), cancelled + alices[::-1])
        self.open(owner="alice", state="cancelled")
        self.assertEqual(ids(self.manager.text), cancelled)
        self.open(owner="bob", state="failed")
        self.assertEqual(ids(self.manager.text), [])
        self.assertIn("No processes.", self.manager.text)
        # The owner's cell links to the page of that owner's processes.
        self.open()
        (bob_link, *_rest) = lxml.html.fromstring(self.manager.text).xpath("//tbody//a[text()='bob']/@href")
        self.manager.open(bob_link)
        self.assertEqual(ids(self.manager.text), bobs[::-1])

    def test_an_anonymous_owner_is_filtered_by_its_key(self):
        (theirs,) = self.add(1, owner=None, anonymous_key="ab" * 32)
        self.add(1, owner="alice")
        self.open()
        (link,) = lxml.html.fromstring(self.manager.text).xpath("//tbody//a[text()='Anonymous']/@href")
        self.assertEqual(parse_qs(urlparse(link).query), {"owner": [f"anonymous:{'ab' * 32}"]})
        self.manager.open(link)
        self.assertEqual(ids(self.manager.text), [theirs])

    def test_the_state_filter_is_the_stored_state(self):
        (dead,) = self.add(1, state=registry.RUNNING, instance=GONE)
        self.open(state="running")
        (row,) = rows(self.manager.text)
        self.assertEqual((row["process_id"], row["state"]), (dead, "interrupted"))  # what it reads as
        self.assertEqual((row["state_text"], row["button"]), ("Interrupted: the server was stopped", "Remove"))
        self.open(state="interrupted")
        self.assertEqual(rows(self.manager.text), [])
        # Removed: it reads interrupted, so it is no longer active.
        self.act(dead, state="running")
        self.assertIsNone(self.fresh_record(dead))

    def test_a_bad_state_shows_all_states_with_a_notice(self):
        made = self.add(3)
        self.open(state="lost")
        self.assertEqual(self.manager.status, 200)
        self.assertIn("There is no state \u201clost\u201d: all states are shown.", self.manager.text)
        self.assertEqual(ids(self.manager.text), made[::-1])
        self.manager.open(f"{self.page_url}?state=failed&state=done")
        self.assertEqual(self.manager.status, 200)
        self.assertEqual(ids(self.manager.text), made[::-1])

    def test_bad_batch_values_are_the_defaults_with_a_notice(self):
        made = self.add(60)[::-1]
        said = {
            "b_start": "\u201c{}\u201d is no place in the list: its start is shown.",
            "b_size": "\u201c{}\u201d is no number of processes a page (1 to 200): 50 are shown.",
        }
        for query in ({"b_start": "-5"}, {"b_start": "x"}, {"b_size": "0"}, {"b_size": "1000"}, {"b_size": "y"}):
            self.open(**query)
            self.assertEqual(self.manager.status, 200, query)
            self.assertEqual(ids(self.manager.text), made[:50], query)
            ((name, value),) = query.items()
            self.assertEqual(notices(self.manager.text), [said[name].format(value)], query)
        self.open(b_size="20", b_start="0")
        self.assertEqual(notices(self.manager.text), [])
        self.open(b_start="5000")  # past the end: the last page
        self.assertEqual(ids(self.manager.text), made[50:])
        self.open(b_size="7", b_start="14")
        self.assertEqual(ids(self.manager.text), made[14:21])

    def test_an_owner_that_is_no_text_shows_all_owners_with_a_notice(self):
        """``owner:list`` and ``owner:int`` were left out without a word."""
        made = self.add(2, owner="alice") + self.add(1, owner="bob")
        for query, shown in (("owner:list=alice&owner:list=bob", "alice, bob"), ("owner:int=5", "5")):
            self.manager.open(f"{self.page_url}?{query}")
            self.assertEqual(self.manager.status, 200, query)
            self.assertEqual(notices(self.manager.text), [f"\u201c{shown}\u201d is no owner: all owners are shown."])
            self.assertEqual(sorted(ids(self.manager.text)), sorted(made), query)

    def test_a_bad_queue_name_shows_all_queues_with_a_notice(self):
        made = self.add(3)
        self.open(queue="../exports")
        self.assertEqual(self.manager.status, 200)
        self.assertEqual(notices(self.manager.text), ["\u201c../exports\u201d is no queue's name: all queues are shown."])
        self.assertEqual(ids(self.manager.text), made[::-1])
        self.open(queue="exports")  # a name, if no process's: none listed, nothing to say
        self.assertEqual((notices(self.manager.text), ids(self.manager.text)), ([], []))

    def test_batches_of_50_newest_first_whose_links_keep_the_filters(self):
        alices = self.add(120, owner="alice")[::-1]  # newest first
        self.add(5, owner="bob")
        self.open()
        self.assertEqual(len(ids(self.manager.text)), 50)
        self.assertIn("Processes 1 to 50 of 125", " ".join(self.manager.text.split()))
        self.open(owner="alice", state="failed")
        self.assertEqual(ids(self.manager.text), alices[:50])
        pages = [alices[:50]]
        while True:
            page = lxml.html.fromstring(self.manager.text)
            following = page.xpath("//ul[contains(@class, 'pagination')]//li[contains(@class, 'next')]/a/@href")
            if not following:
                break
            query = parse_qs(urlparse(following[0]).query)
            self.assertEqual((query["owner"], query["state"]), (["alice"], ["failed"]))
            self.assertEqual(query["b_start:int"], [str(50 * len(pages))])
            self.manager.open(following[0])
            self.assertEqual(self.manager.status, 200)
            pages.append(ids(self.manager.text))
        self.assertEqual([len(page) for page in pages], [50, 50, 20])
        self.assertEqual(sum(pages, []), alices)
        self.assertIn("Processes 101 to 120 of 120", " ".join(self.manager.text.split()))
        self.open(owner="alice", b_size="200")
        self.assertEqual(ids(self.manager.text), alices)

    def test_cancel_a_queued_process(self):
        (queued,) = self.add(1, state=registry.QUEUED, owner="bob")
        self.add(60, owner="alice")
        location = self.act(queued, owner="bob", state="queued")
        self.assertEqual(parse_qs(urlparse(location).query), {"owner": ["bob"], "state": ["queued"]})
        self.assertEqual(urlparse(location).path, urlparse(self.page_url).path)
        self.assertEqual(self.stored_state(queued), registry.CANCELLED)
        self.manager.open(location)
        self.assertMessage(f"Cancelled hello ({queued}).")
        self.assertEqual(rows(self.manager.text), [])  # no longer queued
        self.open()
        (row,) = [row for row in rows(self.manager.text) if row["process_id"] == queued]
        self.assertEqual((row["state_text"], row["button"]), ("Cancelled", "Remove"))
        # Again (an old page): it had ended.
        self.manager.post(self.page_url, urlencode({"process_id": queued, "action": "cancel",
                                                    "_authenticator": self.manager.token}))
        self.assertEqual(self.manager.status, 303)
        self.manager.open(self.manager.headers["Location"])
        self.assertMessage(f"hello ({queued}) had already ended.")

    def test_the_redirect_keeps_the_page(self):
        made = self.add(60)[::-1]
        location = self.act(made[55], b_start="50", b_size="10")
        self.assertEqual(parse_qs(urlparse(location).query), {"b_start": ["50"], "b_size": ["10"]})
        self.assertIsNone(self.fresh_record(made[55]))

    def test_cancel_a_running_job(self):
        job = HeldJob(self, 40, 60)
        job.reached()
        self.act(job.process_id)
        self.manager.open(self.manager.headers["Location"])
        self.assertMessage(f"Asked progress ({job.process_id}) to stop: it stops at its next progress report.")
        (row,) = rows(self.manager.text)
        self.assertEqual((row["state_text"], row["button"]), ("Running Cancelling...", ""))
        job.go_on()  # its next report stops it

        def cancelled():
            self.open()
            return rows(self.manager.text)[0]["state_text"] == "Cancelled"

        wait_until(cancelled, what="the job to stop")
        self.assertEqual(job.poll()["state"], "cancelled")

    def test_remove_an_ended_process(self):
        _url, done, _answer = self.run_job("hello")
        self.act(done)
        self.manager.open(self.manager.headers["Location"])
        self.assertMessage(f"Removed hello ({done}).")
        self.assertEqual(rows(self.manager.text), [])
        self.assertIsNone(self.fresh_record(done))
        self.browser.open(f"{self.site_url}/@@hello/result?process_id={done}")  # its result is gone
        self.assertEqual(self.browser.status, 404)

    def test_an_active_process_is_not_removed(self):
        (queued,) = self.add(1, state=registry.QUEUED)
        form = {"process_id": queued, "action": "remove", "_authenticator": self.manager.token}
        self.manager.post(self.page_url, urlencode(form))
        self.assertEqual(self.manager.status, 303)
        self.manager.open(self.manager.headers["Location"])
        self.assertMessage(f"hello ({queued}) is still active: cancel it first.")
        self.assertEqual(self.stored_state(queued), registry.QUEUED)

    def test_an_unknown_process(self):
        for process_id in ("0" * 32, "nonsense"):
            form = {"process_id": process_id, "action": "remove", "_authenticator": self.manager.token}
            self.manager.post(self.page_url, urlencode(form))
            self.assertEqual(self.manager.status, 303)
            self.manager.open(self.manager.headers["Location"])
            self.assertMessage(f"There is no process {process_id}.")

    def test_another_sites_processes_are_neither_listed_nor_changed(self):
        ours = self.add(1)
        queued, ended = self.add(1, state=registry.QUEUED, site="/other") + self.add(1, site="/other")
        self.open()
        self.assertEqual([row["process_id"] for row in rows(self.manager.text)], ours)
        for process_id, action, state in ((queued, "cancel", registry.QUEUED), (ended, "remove", registry.FAILED)):
            form = {"process_id": process_id, "action": action, "_authenticator": self.manager.token}
            self.manager.post(self.page_url, urlencode(form))
            self.manager.open(self.manager.headers["Location"])
            self.assertMessage(f"There is no process {process_id}.")
            self.assertEqual(self.stored_state(process_id), state)

    def test_a_post_without_the_token_is_refused(self):
        queued, ended = self.add(1, state=registry.QUEUED) + self.add(1)
        self.open()
        forms = {process_id: action_form(self.manager.text, process_id) for process_id in (queued, ended)}
        for process_id, state in ((queued, registry.QUEUED), (ended, registry.FAILED)):
            url, fields = forms[process_id]
            without = {name: value for name, value in fields.items() if name != "_authenticator"}
            for form in (without, dict(without, _authenticator="wrong")):
                self.manager.post(url, urlencode(form))
                self.assertEqual(self.manager.status, 403, form)
                self.assertIn("The form could not be sent.", self.manager.text)
                (back,) = lxml.html.fromstring(self.manager.text).find_class("netsight-async-back")
                self.assertEqual(back.get("href"), self.page_url)
                self.assertEqual(self.stored_state(process_id), state)

    def test_a_get_changes_nothing(self):
        queued, ended = self.add(1, state=registry.QUEUED) + self.add(1)
        for process_id, action in ((queued, "cancel"), (ended, "remove")):
            self.open(process_id=process_id, action=action, _authenticator=self.manager.token)
            self.assertEqual(self.manager.status, 200)
        self.assertEqual(self.stored_state(queued), registry.QUEUED)
        self.assertEqual(self.stored_state(ended), registry.FAILED)
        # Nor does a Member's post with their own token.
        form = {"process_id": queued, "action": "cancel", "_authenticator": self.browser.token}
        self.browser.post(self.page_url, urlencode(form))
        self.assertNotIn(self.browser.status, (200, 303))
        self.assertEqual(self.stored_state(queued), registry.QUEUED)
