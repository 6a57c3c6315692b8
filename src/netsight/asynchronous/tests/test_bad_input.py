"""Bad requests get a clear answer with a fitting status, never a traceback."""

from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import ZOPE_MANAGER_NAME
from netsight.asynchronous.testing import ZOPE_MANAGER_PASSWORD
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from urllib.parse import quote
from urllib.parse import urlencode

import lxml.html
import threading


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class TestBadInput(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def assert_clear_answer(self, statuses):
        self.assertIn(self.browser.status, statuses, self.browser.text[:300])
        self.assertNotIn("Traceback", self.browser.text)

    @FUZZ
    @given(process_id=st.text(max_size=80))
    def test_any_process_id_is_a_400_or_404(self, process_id):
        for page in ("processing", "completed", "result", "completed?output_json=1"):
            query = urlencode({"process_id": process_id})
            self.browser.open(f"{self.url('hello')}/{page}{'&' if '?' in page else '?'}{query}")
            self.assert_clear_answer((400, 404))

    @FUZZ
    @given(query=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=5))
    def test_any_query_string_is_no_server_error(self, query):
        for page in ("processing", "completed", "result"):
            self.browser.open(f"{self.url('hello')}/{page}?{urlencode(query)}")
            self.assert_clear_answer((400, 404))

    def test_several_process_ids(self):
        url, process_id, answer = self.run_job("hello")
        self.browser.open(f"{url}/result?process_id={process_id}&process_id={process_id}")
        self.assert_clear_answer((400, 404))
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")

    def test_a_huge_form_body_starts_nothing(self):
        body = urlencode({"_authenticator": self.browser.token, "data": "x" * (3 << 20)})
        self.browser.post(self.url("echo"), body)
        self.assert_clear_answer((400, 413))
        self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))

    def test_of_two_concurrent_fetches_of_a_result_exactly_one_gets_it(self):
        for _ in range(3):
            url, process_id, answer = self.run_job("hello")
            browsers = [JobBrowser(self.app, self.site_url) for _ in range(4)]
            barrier = threading.Barrier(len(browsers))
            statuses = []

            def fetch(browser):
                barrier.wait()
                browser.open(f"{url}/result?process_id={process_id}")
                statuses.append((browser.status, browser.text))

            threads = [threading.Thread(target=fetch, args=(browser,)) for browser in browsers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            # The owner's other fetches hear that the result was already shown (410).
            self.assertEqual(sorted(status for status, text in statuses), [200, 410, 410, 410])
            self.assertIn((200, "Hello world!"), statuses)

    def test_nothing_but_the_status_pages_is_published_below_a_view(self):
        for name in (
            "set_progress",
            "status",
            "status_url",
            "view_url",
            "authenticator",
            "initial_page",
            "processing_page",
            "run_process",
            "_start",
            "__run__",
            "page_texts",
            quote("netsight.async.processes"),
        ):
            self.browser.open(f"{self.url('hello')}/{name}")
            self.assert_clear_answer((404,))
        self.browser.open(f"{self.site_url}/netsight.async.processes")
        self.assert_clear_answer((404,))
        self.browser.open(f"{self.app.absolute_url()}/netsight.async.processes")
        self.assert_clear_answer((404,))


def bad_start(html):
    """What the add-on's 400 page of a start says: (heading, reason, back link)."""
    page = lxml.html.fromstring(html)
    (alert,) = page.xpath('//*[contains(@class, "netsight-async-bad-start")]')
    (heading,) = alert.xpath(".//h1")
    (reason,) = alert.xpath("./p[1]")
    (form,) = alert.xpath('.//button[contains(@class, "netsight-async-back")]/ancestor::form[1]')
    fields = [(field.get("name"), field.get("value")) for field in form.xpath('.//input[@type="hidden"]')]
    back = form.get("action"), [field for field in fields if field[0] != "_authenticator"]  # (plone.protect's)
    return heading.text_content().strip(), reason.text_content().strip(), back


class TestABadStartIsAnAnswer(JobTestCase):
    """A browser's start that cannot be is a 400 page of the add-on (Plone's look), raised through nothing.

    That Zope logs nothing of it is read in a real instance's event log
    (test_quiet_log); the JSON start's 400 is test_json_start's.
    """

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_form_missing_an_argument_of_run(self):
        self.browser.post(self.url("arguments"), urlencode({"_authenticator": self.browser.token, "kind": "x"}))
        self.assertEqual(self.browser.status, 400)
        self.assertEqual(
            bad_start(self.browser.text),
            (
                "Nothing was started: the request is incomplete.",
                "The form lacks what the process needs: number.",
                (f"{self.site_url}/@@arguments", [("_netsight_async_back", "1"), ("kind", "x")]),  # posted back
            ),
        )
        self.assertIn('id="portal-footer-wrapper"', self.browser.text)  # inside Plone's main_template
        self.assertIn("<title>Nothing was started: the request is incomplete.", self.browser.text)
        self.assertNotIn("Traceback", self.browser.text)
        self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))  # nothing recorded

    def test_in_the_users_language(self):
        for language, heading in (
            ("de", "Nichts wurde gestartet: die Anfrage ist unvollständig."),
            ("it", "Non è stato avviato nulla: la richiesta è incompleta."),
        ):
            self.browser = JobBrowser(self.app, self.site_url)
            self.browse_in(language)
            self.browser.post(self.url("arguments"), urlencode({"_authenticator": self.browser.token}))
            self.assertEqual(self.browser.status, 400)
            self.assertEqual(bad_start(self.browser.text)[0], heading, language)

    def test_below_a_context_without_a_path(self):
        self.browser.post(f"{self.site_url}/@@plone/@@hello", urlencode({"_authenticator": self.browser.token}))
        self.assertEqual(self.browser.status, 400)
        self.assertTrue(self.browser.text.startswith("<!DOCTYPE html>"), self.browser.text[:100])  # standalone
        heading, reason, back = bad_start(self.browser.text)
        self.assertEqual(heading, "Nothing was started: the request is incomplete.")
        self.assertEqual(
            reason,
            "No process can run at this address: open the form on a page of the site and send it from there.",
        )
        self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))


class TestABadStartInPlainZope(JobTestCase):
    """In plain Zope, the same 400 page, standalone."""

    layer = NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING

    def test_a_form_missing_an_argument_of_run(self):
        browser = JobBrowser(self.app, self.site_url, ZOPE_MANAGER_NAME, ZOPE_MANAGER_PASSWORD)
        browser.post(self.url("arguments"), "kind=x")
        self.assertEqual(browser.status, 400)
        self.assertTrue(browser.text.startswith("<!DOCTYPE html>"), browser.text[:100])
        self.assertEqual(
            bad_start(browser.text),
            (
                "Nothing was started: the request is incomplete.",
                "The form lacks what the process needs: number.",
                (f"{self.site_url}/@@arguments", [("_netsight_async_back", "1"), ("kind", "x")]),  # posted back
            ),
        )
