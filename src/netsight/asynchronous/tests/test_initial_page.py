"""What a request that starts nothing sees: the initial page."""

from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase


class TestInitialPage(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def assert_nothing_started(self):
        self.assertIsNone(self.app._p_jar.root().get("netsight.async.processes"))

    def test_get_shows_the_zcml_template(self):
        self.browser.open(self.url("own-template"))
        self.assertEqual(self.browser.status, 200)
        self.assertIn('<p id="message">no message</p>', self.browser.contents)
        self.assert_nothing_started()

    def test_initial_page_as_a_method(self):
        self.browser.open(self.url("method-initial"))
        self.assertEqual(self.browser.contents, "Hello world!")

    def test_initial_page_as_a_page_template_file(self):
        self.browser.open(self.url("template-initial"))
        self.assertIn('<p id="initial">Initial template page</p>', self.browser.contents)
        self.assertIn("text/html", self.browser.headers["Content-Type"])

    def test_run_process_decides_when_a_request_starts_the_job(self):
        # run_process() here: 'run' in the form. A POST without it starts nothing.
        self.browser.post(
            self.url("method-initial"), f"_authenticator={self.browser.token}"
        )
        self.assertEqual(self.browser.contents, "Hello world!")
        self.assert_nothing_started()
        url, process_id, answer = self.run_job("method-initial", run="1")
        self.assertEqual(answer["completed"], True)
        self.assertEqual(self.browser.result(url, process_id), "ran")

    def test_a_get_never_starts_by_default(self):
        self.browser.open(self.url("hello") + "?some=value")
        self.assertNotIn(self.browser.status, (302, 303))
        self.assert_nothing_started()

    def test_no_process_renders_the_views_own_template_from_run(self):
        url, process_id, answer = self.run_job("own-template")
        self.assertEqual(answer["completed"], True)
        self.assertIn('<p id="message">Hello world</p>', self.browser.result(url, process_id))
