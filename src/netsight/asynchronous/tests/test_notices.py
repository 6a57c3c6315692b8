"""The notice on the owner's next page: a job that ended while its tab was closed, its result waiting."""

from plone.app.testing import TEST_USER_ID

from netsight.asynchronous import notify
from netsight.asynchronous import registry
from netsight.asynchronous.browser.notices import LOOK
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.records import made
from netsight.asynchronous.tests.helpers.views import new_gate

import lxml.html
import transaction


OTHER, OTHER_PASSWORD = "another-member", "another-secret"


def notices(html):
    """``[(text, link)]`` of the page's notices of the add-on, in Plone's status-message look."""
    page = lxml.html.fromstring(html)
    found = page.xpath(
        "//*[@id='global_statusmessage']//div[contains(@class, 'portalMessage')]"
        "[contains(@class, 'netsight-async-notice')]"
    )
    return [(" ".join(div.text_content().split()), div.xpath("string(.//a/@href)")) for div in found]


class TestReadyNotice(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        setting(self, "poll-interval", 1)  # the least a setting can say
        # A notice GRACE_POLLS longest poll intervals after the end: a fifth of one here (0.2 s), not 2 s.
        self.addCleanup(setattr, notify, "GRACE_POLLS", notify.GRACE_POLLS)
        notify.GRACE_POLLS = 0.2

    def ended_unwatched(self, view="hello", **form):
        """Start a job and close its tab: nothing polls it; returns its id once it is done."""
        process_id = self.browser.start(self.url(view), **form)
        wait_until(
            lambda: (record := self.fresh_record(process_id)) is not None and record.state == registry.DONE,
            what=f"process {process_id} done",
        )
        return process_id

    def listed_ready(self, browser, process_id):
        """Whether My processes links ``browser``'s process to its result."""
        browser.open(f"{self.site_url}/@@my-processes")
        return f"result?process_id={process_id}" in browser.text

    def page_notices(self, browser):
        browser.open(self.site_url)
        self.assertEqual(browser.status, 200)
        return notices(browser.contents)

    def test_the_owners_next_page_says_the_result_is_ready(self):
        process_id = self.ended_unwatched()
        result_url = f"{self.site_url}/@@hello/result?process_id={process_id}"
        shown = wait_until(lambda: self.page_notices(self.browser), what="the notice on the owner's page")
        self.assertEqual(len(shown), 1)
        text, link = shown[0]
        self.assertRegex(text, r"^“(hello|Hello)” is ready — see the result$")
        self.assertEqual(link, result_url)
        self.browser.open(link)  # the link gives the result
        self.assertEqual(self.browser.contents, "Hello world!")
        self.assertEqual(self.page_notices(self.browser), [])  # fetched: no more notice

    def test_in_the_users_language(self):
        self.browse_in("de")
        self.ended_unwatched()
        (shown,) = wait_until(lambda: self.page_notices(self.browser), what="the notice on the owner's page")
        self.assertRegex(shown[0], r"^„(hello|Hello)“ ist fertig — zum Ergebnis$")

    def test_nobody_else_gets_it(self):
        self.portal.acl_users.userFolderAddUser(OTHER, OTHER_PASSWORD, ["Member"], [])
        transaction.commit()
        self.ended_unwatched()
        wait_until(lambda: self.page_notices(self.browser), what="the notice on the owner's page")
        other = JobBrowser(self.app, self.site_url, OTHER, OTHER_PASSWORD)
        self.assertEqual(self.page_notices(other), [])
        self.assertEqual(self.page_notices(JobBrowser(self.app, self.site_url, user=None)), [])  # Anonymous

    def test_an_anonymous_owner_gets_no_notice_on_the_page(self):
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        process_id = anonymous.start(self.url("hello"))  # the anonymous browser's own job (its cookie)
        wait_until(lambda: self.fresh_record(process_id).state == registry.DONE, what="the anonymous job done")
        self.assertIsNone(self.fresh_record(process_id).owner)
        # Past the grace, the owner's own processes list it as ready, and the page says nothing.
        wait_until(lambda: self.listed_ready(anonymous, process_id), what="the anonymous job listed as done")
        self.ended_unwatched()  # a member's job, noticed on the member's page: the notices work meanwhile
        wait_until(lambda: self.page_notices(self.browser), what="the member's notice")
        self.assertEqual(self.page_notices(anonymous), [])

    def test_a_page_with_a_notice_writes_nothing(self):
        self.ended_unwatched()
        wait_until(lambda: self.page_notices(self.browser), what="the notice on the owner's page")
        storage = self.app._p_jar.db().storage
        before = storage.lastTransaction()
        for _ in range(3):
            self.assertEqual(len(self.page_notices(self.browser)), 1)
        self.assertEqual(storage.lastTransaction(), before)

    def test_not_within_the_grace_after_the_end_nor_while_it_runs(self):
        setting(self, "poll-interval", 60)  # a tab that watched it fetches its result within the grace (12 s here)
        running = self.browser.start(self.url("gate"), gate=new_gate(self))
        self.ended_unwatched()
        self.assertEqual(self.page_notices(self.browser), [])  # the end is a moment ago
        self.assertIn(self.fresh_record(running).state, registry.ACTIVE)

    def test_not_on_the_processing_page_of_another_job(self):
        self.ended_unwatched()
        wait_until(lambda: self.page_notices(self.browser), what="the notice on the owner's page")
        running = self.browser.start(self.url("gate"), gate=new_gate(self))
        self.browser.open(f"{self.site_url}/@@gate/processing?process_id={running}")
        self.assertEqual(self.browser.status, 200)
        self.assertIn("netsight-async-processing", self.browser.text)
        self.assertEqual(notices(self.browser.contents), [])
        self.assertNotIn("netsight-async-notice", self.browser.text)

    def test_a_done_job_of_another_user_id_in_the_owners_index_only_theirs(self):
        """The lookup is the owner's key range of this site: the same user id's done
        process of another site is not noticed here."""
        process_id = registry.new_process_id()
        record = registry.ProcessRecord(process_id, "hello", "/other/folder", TEST_USER_ID, site="/other")
        db = self.app._p_jar.db()
        registry.in_own_transaction(db, lambda root: registry.add(root._p_jar, record, "elsewhere", 1))
        registry.change(db, process_id, lambda r: r.assign_to("elsewhere", 1) or (r.start("elsewhere") and r.finish(None)))
        self.assertEqual(self.fresh_record(process_id).state, registry.DONE)
        ours = self.ended_unwatched()
        shown = wait_until(lambda: self.page_notices(self.browser), what="the notice on the owner's page")
        self.assertEqual([link.rsplit("=", 1)[1] for _text, link in shown], [ours])

    def test_noticed_though_more_newer_results_than_it_looks_at_were_shown(self):
        process_id = self.ended_unwatched()
        site = "/".join(self.portal.getPhysicalPath())
        made(self.app._p_jar.db(), site, TEST_USER_ID, LOOK + 5, shown=True)  # newer, each fetched once
        shown = wait_until(lambda: self.page_notices(self.browser), what="the notice on the owner's page")
        self.assertEqual([link for _text, link in shown], [f"{self.site_url}/@@hello/result?process_id={process_id}"])
