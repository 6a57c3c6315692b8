"""A job keeps nothing of its request that lets anyone log in, and still runs as its user."""

from io import BytesIO
from urllib.parse import urlencode

from netsight.asynchronous import scrub
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.base import JobTestCase

import json
import unittest


BOUNDARY = "----netsight7MA4YWxkTrZu0gW"


def multipart(*fields):
    """A multipart/form-data body of ``(name, value, filename)`` fields."""
    parts = []
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        parts.append(f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def scrubbed_body(body, content_type):
    target = BytesIO()
    scrub.body(BytesIO(body), content_type, target)
    return target.getvalue()


class TestEnviron(unittest.TestCase):
    def test_no_credentials_are_kept(self):
        kept = scrub.environ(
            {
                "HTTP_AUTHORIZATION": "Basic dXNlcjpzZWNyZXQ=",
                "HTTP_PROXY_AUTHORIZATION": "Basic cHJveHk6c2VjcmV0",
                "HTTP_X_CSRF_TOKEN": "0123abcd",
                "REMOTE_USER": "someone",
                "HTTP_COOKIE": '__ac="c2VjcmV0"; I18N_LANGUAGE="de"; _ZopeId="123"; netsight_async_owner=xyz',
                "QUERY_STRING": "a=1&_authenticator=0123abcd&b=2",
                "REQUEST_URI": "/plone/@@export?_authenticator=0123abcd",
                "HTTP_REFERER": "http://nohost/plone/@@export?a=1&_authenticator=0123abcd",
                "HTTP_ACCEPT_LANGUAGE": "de",
                "wsgi.input": BytesIO(),
                "wsgi.url_scheme": "https",
                "SERVER_PORT": "443",
            }
        )
        self.assertEqual(
            kept,
            {
                "HTTP_COOKIE": 'I18N_LANGUAGE="de"',
                "QUERY_STRING": "a=1&b=2",
                "REQUEST_URI": "/plone/@@export?",
                "HTTP_REFERER": "http://nohost/plone/@@export?a=1",
                "HTTP_ACCEPT_LANGUAGE": "de",
                "wsgi.url_scheme": "https",
                "SERVER_PORT": "443",
            },
        )

    def test_no_cookie_header_when_no_cookie_is_kept(self):
        self.assertNotIn("HTTP_COOKIE", scrub.environ({"HTTP_COOKIE": "__ac=secret"}))


class TestBody(unittest.TestCase):
    def test_an_urlencoded_form_loses_its_token(self):
        body = urlencode({"title": "Grüße", "_authenticator": "0123abcd", "n": "3"}).encode()
        self.assertEqual(
            scrubbed_body(body, "application/x-www-form-urlencoded; charset=utf-8"),
            urlencode({"title": "Grüße", "n": "3"}).encode(),
        )

    def test_a_big_urlencoded_form_loses_its_token_as_it_is_copied(self):
        value = "x" * (3 << 20)
        body = urlencode([("data", value), ("_authenticator", "0123abcd"), ("n", "3")]).encode()
        self.assertEqual(
            scrubbed_body(body, "application/x-www-form-urlencoded"),
            urlencode([("data", value), ("n", "3")]).encode(),
        )

    def test_a_multipart_form_loses_its_token_part_and_keeps_the_rest_byte_for_byte(self):
        upload = bytes(range(256)) * 1000 + b"\r\n--not-the-boundary\r\n" + b"x" * 200_000
        body = multipart(("title", b"Hello", None), ("_authenticator", b"0123abcd", None), ("file", upload, "a.bin"))
        self.assertEqual(
            scrubbed_body(body, f"multipart/form-data; boundary={BOUNDARY}"),
            multipart(("title", b"Hello", None), ("file", upload, "a.bin")),
        )

    def test_other_bodies_are_kept_as_they_are(self):
        body = b'{"_authenticator": "kept: this is data, not a form"}'
        self.assertEqual(scrubbed_body(body, "application/json"), body)


class TestTheJobsRequest(JobTestCase):
    """Over the publisher: the job sees no credential, and runs as its user."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_the_job_runs_as_its_user_with_no_credential(self):
        browser = self.browser
        token = browser.token  # opens a page of the site
        browser.cookies["__ac"] = "c2Vzc2lvbg"
        browser.cookies["I18N_LANGUAGE"] = "en"
        browser.addHeader("X-CSRF-TOKEN", token)
        url = self.url("echo")
        browser.post(f"{url}?_authenticator={token}&q=1", urlencode({"_authenticator": token, "title": "Grüße"}))
        self.assertEqual(browser.status, 303)
        process_id = browser.headers["Location"].rsplit("process_id=", 1)[1]
        self.assertEqual(browser.wait_for(url, process_id)["completed"], True)
        seen = json.loads(browser.result(url, process_id))
        self.assertEqual(seen["user"], "test_user_1_")
        self.assertEqual(seen["roles"], ["Authenticated", "Member"])
        self.assertIsNone(seen["authorization"])  # the test browser logs in with Basic auth
        self.assertEqual(seen["cookies"], ["I18N_LANGUAGE"])
        self.assertIsNone(seen["csrf_header"])
        self.assertEqual(seen["query"], "q=1")
        # Not the stored one (the request keeps none): a fresh token of its
        # user, made when the job runs, for code of __run__ that checks one.
        self.assertRegex(seen["form"]["_authenticator"], r"^[0-9a-f]{40}$")
        self.assertEqual(seen["form"]["title"], "Grüße")
