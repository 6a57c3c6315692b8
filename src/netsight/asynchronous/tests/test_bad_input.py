"""Bad requests get a clear answer with a fitting status, never a traceback."""

from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.base import JobBrowser
from netsight.asynchronous.tests.base import JobTestCase
from urllib.parse import quote
from urllib.parse import urlencode

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
            self.assertEqual(sorted(status for status, text in statuses), [200, 404, 404, 404])
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
