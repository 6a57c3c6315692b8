"""No CSRF token of a job's user is stored with its result; the result served has a valid one."""

from plone.app.testing import TEST_USER_NAME
from plone.keyring.interfaces import IKeyManager
from urllib.parse import urlencode
from zope.component import getUtility

from netsight.asynchronous import tokens
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase

import hashlib
import hmac
import lxml.html
import transaction
import unittest


TOKEN = r"^[0-9a-f]{40}$"


def user_tokens(portal, user_name):
    """Every token plone.protect may give ``user_name`` on ``portal``, worked out here (bytes)."""
    manager = getUtility(IKeyManager, context=portal)
    ring = manager["_forms"] if "_forms" in manager else manager["_system"]
    return {hmac.new(key.encode(), user_name.encode(), hashlib.sha1).hexdigest().encode() for key in ring if key}


class TestHider(unittest.TestCase):
    def test_a_needle_split_across_writes_is_found(self):
        needle, placeholder = b"a" * 40, b"b" * 40
        body = b"<p>" + needle + b"</p>" + b"y" * 100 + needle
        for size in (1, 3, 39, 40, 41, 1000):
            hider = tokens.Hider((needle,), placeholder)
            out = b"".join(hider.feed(body[start : start + size]) for start in range(0, len(body), size)) + hider.end()
            self.assertEqual(out, body.replace(needle, placeholder), size)
            self.assertTrue(hider.replaced)


class TestReplayed(unittest.TestCase):
    def test_a_body_with_a_placeholder_is_never_public(self):
        from io import BytesIO
        from netsight.asynchronous.replay import CapturedResponse
        from ZPublisher.HTTPResponse import WSGIResponse

        captured = CapturedResponse(200, "OK", {"cache-control": "public, max-age=60"}, [], {}, b"<html></html>")
        captured.placeholder = tokens.placeholder()
        response = WSGIResponse(stdout=BytesIO(), stderr=BytesIO())
        captured.replay_headers(response, public=True)
        self.assertEqual(response.headers["cache-control"], "private, max-age=60")


class TestStoredResult(JobTestCase):
    """A page a job rendered for a logged-in user, as stored and as served."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def stored_body(self, process_id):
        """The stored body of a done process: inline bytes, or its blob's file."""
        result = self.fresh_record(process_id).result
        if result.response.body is not None:
            return result.response.body
        with result.blob.open("r") as file:
            return file.read()

    def check(self, padding):
        url, process_id, answer = self.run_job("form-page", padding=str(padding))
        self.assertEqual(answer["completed"], True, answer)
        stored = self.stored_body(process_id)
        self.assertGreater(len(stored), padding)
        secrets = user_tokens(self.portal, TEST_USER_NAME)
        self.assertTrue(secrets)
        for secret in secrets:
            self.assertNotIn(secret, stored)
        self.assertIn(b'id="rendered"', stored)

        browser = self.browser
        served = browser.result(url, process_id)
        self.assertEqual(browser.status, 200)
        self.assertEqual(int(browser.headers["Content-Length"]), len(stored))
        page = lxml.html.fromstring(served)
        (hidden,) = page.xpath("//form[@id='again']/input[@name='_authenticator']/@value")
        (rendered,) = page.xpath("//p[@id='rendered']/text()")
        (script_token,) = page.xpath("//script[@id='protect-script']/@data-token")
        for token in (hidden, rendered, script_token):
            self.assertRegex(token, TOKEN)
            self.assertIn(token.encode(), secrets)  # a token of the user it is served to

        # The form posts as a form of a page Plone served: plone.protect lets it start a job.
        (form,) = page.xpath("//form[@id='again']")
        fields = {field.get("name"): field.get("value") for field in form.xpath(".//input")}
        browser.post(form.get("action"), urlencode(fields))
        self.assertEqual(browser.status, 303, browser.contents[:300])
        again = browser.headers["Location"].rsplit("process_id=", 1)[1]
        self.assertEqual(browser.wait_for(self.url("echo"), again)["completed"], True)

    def test_a_small_page(self):
        self.check(0)

    def test_a_page_in_a_blob(self):
        self.check(600_000)

    def test_a_wrong_token_is_refused_the_same_form(self):
        """The check above can fail: the same form with another token is refused."""
        url, process_id, answer = self.run_job("form-page")
        page = lxml.html.fromstring(self.browser.result(url, process_id))
        (form,) = page.xpath("//form[@id='again']")
        self.browser.post(form.get("action"), urlencode({"title": "posted again", "_authenticator": "0" * 40}))
        self.assertEqual(self.browser.status, 403)

    def test_an_anonymous_page_is_kept_as_it_was(self):
        transaction.commit()
        self.browser = browser = JobBrowser(self.app, self.site_url, user=None)
        url = self.url("form-page")
        browser.post(url, "padding=0")
        self.assertEqual(browser.status, 303, browser.contents[:300])
        process_id = browser.headers["Location"].rsplit("process_id=", 1)[1]
        self.assertEqual(browser.wait_for(url, process_id)["completed"], True)
        stored = self.fresh_record(process_id).result.response
        self.assertIsNone(stored.placeholder)
        served = browser.result(url, process_id)
        self.assertEqual(served.encode() if isinstance(served, str) else served, stored.body)


class TestServedToAnother(JobTestCase):
    """A Member's page fetched by a site Manager: the placeholder gets no token of the Manager's.

    The Member can make the job render his own token where he likes (here
    in ``<p id="rendered">``; an ``<img src>`` of another server would send
    it away): a token given for it would be the Manager's.
    """

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_manager_gets_no_token_of_his_and_the_owner_a_working_form(self):
        self.portal.acl_users.userFolderAddUser("site-manager", "manager-password", ["Manager"], [])
        transaction.commit()
        manager = JobBrowser(self.app, self.site_url, "site-manager", "manager-password")
        manager_tokens = user_tokens(self.portal, "site-manager")
        member_tokens = user_tokens(self.portal, TEST_USER_NAME)
        self.assertTrue(manager_tokens and member_tokens)
        for padding in (0, 600_000):  # inline, and in a blob
            with self.subTest(padding=padding):
                url, process_id, answer = self.run_job("form-page", padding=str(padding))
                served = manager.result(url, process_id)
                served = served if isinstance(served, bytes) else served.encode()
                self.assertEqual(manager.status, 200)
                self.assertIn(b'id="rendered"', served)
                for token in manager_tokens | member_tokens:
                    self.assertFalse(token in served, token)
                (rendered,) = lxml.html.fromstring(served).xpath("//p[@id='rendered']/text()")
                self.assertRegex(rendered, TOKEN)  # a placeholder, of a token's length: no one's
        # Its owner still gets a page whose form posts: TestStoredResult.


class TestACompressedPage(JobTestCase):
    """A job that asks Zope to gzip its response: its body is kept uncompressed, without its user's tokens."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_compression_asked_or_forced(self):
        self.browser.addHeader("Accept-Encoding", "gzip, deflate")
        secrets = user_tokens(self.portal, TEST_USER_NAME)
        for force in ("", "1"):
            with self.subTest(force=force):
                url, process_id, answer = self.run_job("compressed-form-page", padding="5000", force=force)
                self.assertEqual(answer["completed"], True, answer)
                stored = TestStoredResult.stored_body(self, process_id)
                self.assertFalse(stored.startswith(b"\x1f\x8b"), "kept gzipped")
                self.assertIn(b'id="rendered"', stored)
                for secret in secrets:
                    self.assertFalse(secret in stored, secret)
                served = self.browser.result(url, process_id)
                self.assertIsNone(self.browser.headers.get("Content-Encoding"))
                (rendered,) = lxml.html.fromstring(served).xpath("//p[@id='rendered']/text()")
                self.assertIn(rendered.encode(), secrets)  # its owner's token, served to its owner
