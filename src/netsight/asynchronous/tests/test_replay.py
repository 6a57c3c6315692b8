"""``result`` replays exactly the response that ``__run__`` produced."""

from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.views import ReturnsFile


class TestReplay(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def fetch(self, view, **form):
        url, process_id, answer = self.run_job(view, **form)
        self.assertEqual(answer["completed"], True, answer)
        self.browser.result(url, process_id)
        return self.browser

    def test_status_headers_cookies_and_body(self):
        browser = self.fetch("response")
        self.assertEqual(browser.status, 201)
        self.assertEqual(browser.headers["Content-Type"], "text/csv; charset=utf-8")
        self.assertEqual(browser.headers["X-Report"], "ready")
        self.assertEqual(browser.headers.get_all("Link"), ["</a>; rel=a", "</b>; rel=b"])
        cookie = browser.headers["Set-Cookie"]
        self.assertTrue(cookie.startswith("report=42;"), cookie)
        self.assertIn("httponly", cookie.lower())
        self.assertEqual(browser.text, "a,b\n1,2\n")

    def test_a_returned_str_is_text_plain_as_zope_serves_it(self):
        browser = self.fetch("hello")
        self.assertEqual(browser.status, 200)
        self.assertEqual(browser.headers["Content-Type"], "text/plain; charset=utf-8")
        self.assertEqual(browser.contents, "Hello world!")

    def test_a_redirect(self):
        browser = self.fetch("redirect")
        self.assertEqual(browser.status, 302)
        self.assertEqual(browser.headers["Location"], f"{self.site_url}/done")

    def test_a_streamed_body(self):
        self.assertEqual(self.fetch("streaming").text, "first\nsecond\n")

    def test_an_html_page_is_replayed_untransformed(self):
        # Plone's transforms ran in the job (plone.protect added the token to
        # the form); replaying must not run them a second time.
        page = self.fetch("own-template").text
        self.assertIn('<p id="message">Hello world</p>', page)
        self.assertEqual(page.count('name="_authenticator"'), 1)
        self.assertEqual(self.browser.headers["Content-Type"], "text/html; charset=utf-8")

    def test_connection_and_server_headers_are_not_replayed(self):
        browser = self.fetch("server-headers")
        self.assertEqual(browser.headers["Content-Length"], str(len("headers")))
        # Zope may set some of these itself; the job's values are not replayed.
        for name, jobs_value in (
            ("Connection", "close"),
            ("Server", "JobServer/1.0"),
            ("X-Powered-By", "Job"),
            ("Keep-Alive", "timeout=5"),
            ("Date", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ):
            self.assertNotEqual(browser.headers.get(name), jobs_value, name)

    def test_a_replayed_response_is_not_for_shared_caches(self):
        self.assertEqual(self.fetch("hello").headers["Cache-Control"], "private, no-store")

    def test_what_the_job_said_of_caching_made_private(self):
        browser = self.fetch("server-headers", cache="public, max-age=60")
        self.assertEqual(browser.headers["Cache-Control"], "private, max-age=60")  # test_caching: the rest


class TestFilesAreClosed(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_returned_file(self):
        for form in ({}, {"iterator": "1"}):
            with self.subTest(**form):
                url, process_id, answer = self.run_job("returns-file", **form)
                self.assertEqual(answer["state"], "done")
                self.assertTrue(ReturnsFile.files.pop(process_id).closed)
                self.assertEqual(self.browser.result(url, process_id), "file contents\n")
