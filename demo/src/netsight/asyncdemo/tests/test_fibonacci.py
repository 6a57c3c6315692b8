"""The demo view ``fibonacci``, through the browser, with real job threads."""

from netsight.asyncdemo.fibonacci import Fibonacci
from netsight.asyncdemo.testing import NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING
from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.base import DEADLINE
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import wait_until
from unittest import mock
from urllib.parse import urlencode

import re
import threading
import unittest


def fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class TestFibonacci(unittest.TestCase):
    layer = NETSIGHT_ASYNCDEMO_FUNCTIONAL_TESTING

    def setUp(self):
        portal = self.layer["portal"]
        self.url = portal.absolute_url() + "/fibonacci"
        self.browser = JobBrowser(self.layer["app"], portal.absolute_url())

    def token(self):
        self.browser.open(self.url)
        return self.browser.getControl(name="_authenticator").value

    def start(self, n, seconds="0", **form):
        """Start F(n), as fast as the job goes unless ``seconds`` says otherwise."""
        return self.browser.start(self.url, n=n, seconds=seconds, _authenticator=self.token(), **form)

    def poll_until(self, process_id, done):
        """Poll the job's JSON until ``done(answer)``; returns it."""

        def answer():
            answer = self.browser.poll(self.url, process_id)
            return answer if done(answer) else None

        return wait_until(answer, what=f"process {process_id}")

    def result(self, process_id):
        answer = self.poll_until(process_id, lambda answer: answer["state"] in ("done", "failed"))
        # Done: 100 if the job reported progress (as in 1.x), else True (F(0), F(1)).
        self.assertEqual(answer["state"], "done", answer)
        self.assertIn(answer["completed"], (100, True), answer)
        return self.browser.result(self.url, process_id)

    def test_form(self):
        self.browser.open(self.url)
        self.assertEqual(self.browser.status, 200)
        self.assertIn("Fibonacci numbers", self.browser.contents)
        self.assertIn('id="portal-footer', self.browser.contents)  # in main_template
        self.assertEqual(self.browser.getControl(name="n").value, "2000")
        self.assertEqual(self.browser.getControl(name="seconds").value, "7")
        self.assertFalse(self.browser.getControl("Make it fail half-way").selected)
        self.assertTrue(self.browser.getControl(name="_authenticator").value)

    def test_result(self):
        process_id = self.start("1000")
        body = self.result(process_id)
        expected = str(fibonacci(1000))
        self.assertIn("Fibonacci numbers", body)
        self.assertIn(f'<span id="fibonacci-digits">{len(expected)}</span>', body)
        number = re.search(r'id="fibonacci-number"[^>]*>([0-9]+)<', body)
        self.assertEqual(number.group(1), expected)

    def test_small_numbers(self):
        for n in (0, 1, 2, 10):
            process_id = self.start(str(n))
            body = self.result(process_id)
            self.assertIn(f'<span id="fibonacci-result-n">{n}</span>', body)
            self.assertRegex(body, rf'id="fibonacci-number"[^>]*>{fibonacci(n)}<')

    def test_largest(self):
        # F(100000) has more digits than str() makes of an int (4300).
        process_id = self.start(str(Fibonacci.max_n))
        expected_digits = 20899
        body = self.result(process_id)
        self.assertIn(f'<span id="fibonacci-digits">{expected_digits}</span>', body)

    def test_progress(self):
        """The job waits at its first progress report until the test saw it."""
        seen = threading.Event()
        self.addCleanup(seen.set)
        with mock.patch.object(Fibonacci, "pause", lambda view: seen.wait(DEADLINE)):
            process_id = self.start("500")
            answer = self.poll_until(
                process_id, lambda answer: type(answer["completed"]) in (int, float) and answer["completed"] > 0
            )
            self.assertEqual(answer["completed"], 1, answer)
            self.assertEqual(answer["progress_message"], "1% completed...")
            self.browser.open(f"{self.url}/processing?process_id={process_id}")
            self.assertIn("1% completed...", self.browser.contents)
            seen.set()
            body = self.result(process_id)
        self.assertIn(str(fibonacci(500)), body)

    def test_bad_input(self):
        token = self.token()
        for value, error in (
            ("", "N must be a whole number"),
            ("abc", "N must be a whole number"),
            ("2.5", "N must be a whole number"),
            ("-3", "N must not be negative."),
            ("100001", "N is too big: it must be at most 100000."),
            ("9" * 5000, "N is too big: it must be at most 100000."),
        ):
            with self.subTest(value=value[:10]):
                self.browser.post(self.url, urlencode({"n": value, "_authenticator": token}))
                self.assertEqual(self.browser.status, 200)
                self.assertNotIn("Location", self.browser.headers)
                self.assertIn(error, self.browser.contents)
                self.assertEqual(self.browser.getControl(name="n").value, value)
        for seconds in ("-1", "601", "soon", "nan"):
            with self.subTest(seconds=seconds):
                self.browser.post(self.url, urlencode({"n": "10", "seconds": seconds, "_authenticator": token}))
                self.assertEqual(self.browser.status, 200)
                self.assertNotIn("Location", self.browser.headers)
                self.assertIn("The length must be a number of seconds from 0 to 600.", self.browser.contents)
                self.assertEqual(self.browser.getControl(name="seconds").value, seconds)
                self.assertEqual(self.browser.getControl(name="n").value, "10")
        connection = self.layer["app"]._p_jar.db().open()
        try:
            self.assertFalse(connection.root().get(registry.ROOT_KEY), "a process was started")
        finally:
            connection.close()
