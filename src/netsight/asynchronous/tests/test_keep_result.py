"""A result can be seen again: ``keep_result`` keeps it for its owner; one-shot stays the default.

A view's ``keep_result`` (or the site's setting ``keep-result``) lets the
owner fetch the result again (F5, a second tab) until that many seconds
after it was first shown, at most until its expiry; housekeeping then
drops the result, its blob with it, and its owner is told it was shown
until the record's expiry, as for a one-shot result. A one-shot result (the default, as
in 1.x) is shown once: its owner is then told so (410, links to the form
and to My processes); to anyone else the answer is, byte for byte, that
of an id that never existed.
"""

from plone.registry.interfaces import IRegistry
from zope.component import getUtility

from netsight.asynchronous import housekeeping
from netsight.asynchronous import registry
from netsight.asynchronous.capture import INLINE_LIMIT
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import ZOPE_MANAGER_NAME
from netsight.asynchronous.testing import ZOPE_MANAGER_PASSWORD
from netsight.asynchronous.tests.helpers.base import at_view
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.test_anonymous import _reachable
from netsight.asynchronous.tests.test_ownership import without_tokens
from netsight.asynchronous.tests.helpers.views import big_digest

import hashlib
import json
import lxml.html
import time
import transaction


SHOWN = "This result was already shown."
STRANGER, STRANGER_PASSWORD = "stranger", "stranger-secret"
BIG = 2 * INLINE_LIMIT + 7  # bytes: a blob


def answer(browser, url):
    """What a browser gets for ``url``: status, the headers a page depends on, the
    body (its plone.protect tokens, which change at each request, left out)."""
    browser.open(url)
    headers = {name: browser.headers.get(name) for name in ("Content-Type", "Cache-Control")}
    return browser.status, headers, without_tokens(browser.text)


class KeepResultTestCase(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.portal.acl_users.userFolderAddUser(STRANGER, STRANGER_PASSWORD, ["Member"], [])
        transaction.commit()
        self.addCleanup(self.site_setting, "keep-result", None)
        self.addCleanup(self.site_setting, "expiry", None)

    def site_setting(self, name, value):
        """The site's record of setting ``name`` (the control panel's field)."""
        getUtility(IRegistry, context=self.portal)[f"netsight.async.{name.replace('-', '_')}"] = value
        transaction.commit()

    def db(self):
        return self.app._p_jar.db()


class TestAKeptResultIsSeenAgain(KeepResultTestCase):
    def test_f5_on_the_result_page_shows_it_again(self):
        url, process_id, _answer = self.run_job("keeps-result")
        first = answer(self.browser, f"{url}/result?process_id={process_id}")
        self.assertEqual((first[0], first[2]), (200, "Hello world!"))
        for _reload in range(3):
            self.assertEqual(answer(self.browser, f"{url}/result?process_id={process_id}"), first)
        record = self.fresh_record(process_id)
        self.assertAlmostEqual(record.keep_until, record.taken + 600, places=3)
        self.assertIsNotNone(record.result)

    def test_a_second_tab_that_sees_the_end_later_goes_to_the_result(self):
        url, process_id, _answer = self.run_job("keeps-result")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")  # the first tab
        self.assertEqual(self.browser.poll(url, process_id)["state"], "done")  # the second one's poll
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 302)
        self.assertEqual(self.browser.headers["Location"], f"{at_view(url)}/result?process_id={process_id}")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")

    def test_the_sites_setting_keeps_the_results_of_a_view_without_its_own(self):
        self.site_setting("keep-result", 120.0)
        url, process_id, _answer = self.run_job("hello")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")
        record = self.fresh_record(process_id)
        self.assertAlmostEqual(record.keep_until, record.taken + 120, places=3)

    def test_a_views_own_keep_result_beats_the_sites(self):
        self.site_setting("keep-result", 120.0)
        url, process_id, _answer = self.run_job("keeps-result")
        self.browser.result(url, process_id)
        record = self.fresh_record(process_id)
        self.assertAlmostEqual(record.keep_until, record.taken + 600, places=3)

    def test_kept_at_most_until_its_expiry(self):
        self.site_setting("expiry", 60.0)
        url, process_id, _answer = self.run_job("keeps-result")
        self.browser.result(url, process_id)
        record = self.fresh_record(process_id)
        self.assertAlmostEqual(record.keep_until, record.finished + 60, places=3)

    def test_its_result_goes_at_its_time_with_its_blob_and_its_record_at_its_expiry(self):
        url, process_id, _answer = self.run_job("keeps-big-result", size=str(BIG), how="bytes")
        blob_oid = self.fresh_record(process_id).result.blob._p_oid
        for _fetch in range(2):
            body = self.browser.result(url, process_id)
            self.assertEqual(hashlib.sha256(body).hexdigest(), big_digest(BIG))
        keep_until = self.fresh_record(process_id).keep_until
        self.assertEqual(housekeeping.expire(self.db(), keep_until - 1), 0)  # not yet
        self.assertEqual(len(self.browser.result(url, process_id)), BIG)
        self.assertEqual(housekeeping.expire(self.db(), keep_until + 1), 1)  # its result goes
        record = self.fresh_record(process_id)
        self.assertIsNone(record.result)
        self.assertIsNone(record.keep_until)
        transaction.begin()
        self.assertNotIn(blob_oid, _reachable(self.app._p_jar))  # a pack removes its file
        root = self.app._p_jar.root()
        self.assertNotIn((keep_until, process_id), registry.index(root, registry.EXPIRES_KEY))
        status, _headers, body = answer(self.browser, f"{url}/result?process_id={process_id}")
        self.assertEqual(status, 410)  # its owner is told plainly, as for a one-shot result
        self.assertIn(SHOWN, body)
        self.assertIn("It is no longer kept.", body)
        self.browser.open(f"{self.site_url}/@@my-processes")
        self.assertNotIn(process_id, self.browser.text)  # nor listed
        self.assertEqual(housekeeping.expire(self.db(), record.finished + 86400 + 1), 1)  # its expiry
        self.assertIsNone(self.fresh_record(process_id))
        self.assertEqual(answer(self.browser, f"{url}/result?process_id={process_id}")[0], 404)  # gone

    def test_past_its_time_and_before_housekeeping_its_owner_is_told_it_was_shown(self):
        url, process_id, _answer = self.run_job("keeps-result")
        self.browser.result(url, process_id)

        def past(record):
            record.keep_until = time.time() - 1

        registry.change(self.db(), process_id, past)
        status, _headers, body = answer(self.browser, f"{url}/result?process_id={process_id}")
        self.assertEqual(status, 410)
        self.assertIn(SHOWN, body)


class TestTheControlPanel(KeepResultTestCase):
    def test_the_site_sets_keep_result_in_the_control_panel(self):
        manager = owner_browser(self.app, self.site_url)
        manager.open(f"{self.site_url}/@@netsight-async-controlpanel")
        self.assertIn("Keep a shown result", manager.text)
        manager.getControl(name="form.widgets.keep_result").value = "300"
        manager.getControl(name="form.buttons.save").click()
        transaction.begin()
        self.assertEqual(getUtility(IRegistry, context=self.portal)["netsight.async.keep_result"], 300.0)
        url, process_id, _answer = self.run_job("hello")
        self.browser.result(url, process_id)
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")  # seen again

    def test_more_than_a_century_is_refused_with_a_message(self):
        """An expiry and a keep-result of 1e12 s were saved, and both lists answered 500 once a result was kept."""
        manager = owner_browser(self.app, self.site_url)
        for field in ("expiry", "keep_result"):
            with self.subTest(field=field):
                manager.open(f"{self.site_url}/@@netsight-async-controlpanel")
                manager.getControl(name=f"form.widgets.{field}").value = "1000000000000"
                manager.getControl(name="form.buttons.save").click()
                self.assertIn("Value is too big", manager.text)
                transaction.begin()
                self.assertIsNone(getUtility(IRegistry, context=self.portal)[f"netsight.async.{field}"])

    def test_the_lists_show_a_result_kept_past_the_year_9999(self):
        """A record kept by a setting of millennia (saved before settings had a maximum) broke both lists."""
        url, process_id, _answer = self.run_job("keeps-result")
        self.browser.result(url, process_id)

        def for_millennia(record):
            record.keep_until = 1e12  # the year 33658

        registry.change(self.db(), process_id, for_millennia)
        self.browser.open(f"{self.site_url}/@@my-processes")
        self.assertEqual(self.browser.status, 200)
        self.assertIn(process_id, self.browser.text)
        manager = owner_browser(self.app, self.site_url)
        manager.open(f"{self.site_url}/@@netsight-async-processes")
        self.assertEqual(manager.status, 200)
        self.assertIn(process_id, manager.text)


class TestOneShotByDefault(KeepResultTestCase):
    def test_the_result_is_shown_once_as_in_1x(self):
        url, process_id, _answer = self.run_job("hello")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")
        record = self.fresh_record(process_id)
        self.assertIsNone(record.result)  # the response and its blob are gone; the record says it was shown
        self.assertIsNone(record.keep_until)
        self.browser.open(f"{url}/result?process_id={process_id}")
        self.assertEqual(self.browser.status, 410)
        self.assertNotIn("Hello world!", self.browser.text)

    def test_the_owner_is_told_plainly_with_links_to_the_form_and_my_processes(self):
        url, process_id, _answer = self.run_job("hello")
        self.browser.result(url, process_id)
        for page in ("result", "processing", "completed"):
            with self.subTest(page=page):
                self.browser.open(f"{url}/{page}?process_id={process_id}")
                self.assertEqual(self.browser.status, 410)
                html = lxml.html.fromstring(self.browser.contents)
                (shown,) = html.find_class("netsight-async-shown")
                self.assertEqual(shown.findtext(".//h1").strip(), SHOWN)
                (back,) = shown.find_class("netsight-async-back")  # a button that posts the marker alone
                (form,) = back.xpath("ancestor::form[1]")
                self.assertEqual(form.get("action"), at_view(url))
                hidden = form.xpath('.//input[@type="hidden"][@name != "_authenticator"]/@name')
                self.assertEqual(hidden, ["_netsight_async_back"])
                (mine,) = shown.find_class("netsight-async-my-processes")
                self.assertEqual(mine.get("href"), f"{self.site_url}/@@my-processes")
                self.assertEqual(mine.text_content().strip(), "My processes")
                self.assertNotIn("Traceback", self.browser.text)

    def test_the_json_of_a_shown_result_says_so(self):
        url, process_id, _answer = self.run_job("hello")
        self.browser.result(url, process_id)
        for page in ("completed", "result"):
            with self.subTest(page=page):
                self.browser.open(f"{url}/{page}?process_id={process_id}&output_json=1")
                self.assertEqual(self.browser.status, 410)
                self.assertEqual(
                    json.loads(self.browser.contents),
                    {
                        "process_id": process_id,
                        "state": "shown",
                        "completed": "ERROR",
                        "progress": "ERROR",
                        "error": SHOWN,
                    },
                )

    def test_a_blob_goes_with_the_result(self):
        url, process_id, _answer = self.run_job("big-result", size=str(BIG), how="bytes")
        blob_oid = self.fresh_record(process_id).result.blob._p_oid
        self.assertEqual(len(self.browser.result(url, process_id)), BIG)
        transaction.begin()
        self.assertNotIn(blob_oid, _reachable(self.app._p_jar))  # a pack removes its file

    def test_the_record_goes_at_its_expiry(self):
        url, process_id, _answer = self.run_job("hello")
        self.browser.result(url, process_id)
        finished = self.fresh_record(process_id).finished
        self.assertEqual(housekeeping.expire(self.db(), finished + 86400 + 1), 1)
        self.assertIsNone(self.fresh_record(process_id))


class TestAStrangersAnswerIsTheUnknownOne(KeepResultTestCase):
    """Byte for byte the answer of an id that never existed, to another user and to an anonymous visitor."""

    def strangers(self):
        return {
            "another user": JobBrowser(self.app, self.site_url, STRANGER, STRANGER_PASSWORD),
            "an anonymous visitor": JobBrowser(self.app, self.site_url, user=None),
        }

    def assert_unknown_to_strangers(self, url, process_id):
        never = registry.new_process_id()
        for who, stranger in self.strangers().items():
            for page in ("result", "processing", "completed", "completed?output_json=1&x=", "result?output_json=1&x="):
                with self.subTest(who=who, page=page):
                    name, _sep, query = page.partition("?")
                    query = f"{query}&" if query else ""
                    theirs = answer(stranger, f"{url}/{name}?{query}process_id={process_id}")
                    unknown = answer(stranger, f"{url}/{name}?{query}process_id={never}")
                    self.assertEqual(theirs[0], 404)
                    self.assertEqual(theirs, unknown)

    def test_a_shown_one_shot_result(self):
        url, process_id, _answer = self.run_job("hello")
        self.browser.result(url, process_id)
        self.assertIsNotNone(self.fresh_record(process_id))  # the record that tells its owner
        self.assert_unknown_to_strangers(url, process_id)

    def test_a_kept_result(self):
        url, process_id, _answer = self.run_job("keeps-result")
        self.browser.result(url, process_id)
        self.assert_unknown_to_strangers(url, process_id)
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")  # still its owner's


class TestInPlainZope(JobTestCase):
    """Without Plone: a kept result seen again, the standalone "already shown" page, My processes' Remove."""

    layer = NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.browser = JobBrowser(self.app, self.site_url, ZOPE_MANAGER_NAME, ZOPE_MANAGER_PASSWORD)

    def test_kept_then_shown_once_and_my_processes(self):
        url, kept, _answer = self.run_job("keeps-result")
        self.assertEqual(self.browser.result(url, kept), "Hello world!")
        self.assertEqual(self.browser.result(url, kept), "Hello world!")
        url, once, _answer = self.run_job("hello")
        self.browser.result(url, once)
        self.browser.open(f"{url}/result?process_id={once}")
        self.assertEqual(self.browser.status, 410)
        self.assertTrue(self.browser.text.startswith("<!DOCTYPE html>"))
        (mine,) = lxml.html.fromstring(self.browser.contents).find_class("netsight-async-my-processes")
        self.assertEqual(mine.get("href"), f"{self.app.absolute_url()}/@@my-processes")
        self.browser.open(mine.get("href"))
        rows = lxml.html.fromstring(self.browser.contents).xpath("//tbody/tr/@data-process-id")
        self.assertEqual(rows, [kept])  # the kept one; the one shown once is not listed
        self.browser.post(mine.get("href"), f"action=remove&process_id={kept}")
        self.assertEqual(self.browser.status, 303)
        self.assertIsNone(self.fresh_record(kept))
