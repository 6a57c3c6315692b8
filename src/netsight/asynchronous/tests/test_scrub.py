"""A job keeps nothing of its request that lets anyone log in, and still runs as its user."""

from io import BytesIO
from plone.app.testing import TEST_USER_ID
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD
from urllib.parse import quote
from urllib.parse import unquote
from zope.component.hooks import setSite
from urllib.parse import urlencode
from ZPublisher.HTTPRequest import HTTPRequest
from ZPublisher.HTTPRequest import parse_cookie
from ZPublisher.HTTPResponse import HTTPResponse

from netsight.asynchronous import formvalues
from netsight.asynchronous import scrub
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase

import json
import transaction
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


SECRET = "s3cr3t-0123abcd"
# Each a name under which Zope files a credential in request.form.
SPELLINGS = (
    "_authenticator",
    "%5Fauthenticator",
    "%5f%61uthenticator",
    "_authenticator:string",
    "_authenticator%3Astring",
    "_authenticator:default",
    "_authenticator:list",
    "_authenticator:utf8:ustring",
    "_authenticator:tokens",
    "_authenticator.value:record",
    "__ac",
    "%5F%5Fac",
    "__ac:string",
    "__ac_name",
    "__ac_password",
    "__ac_password:string",
    "%5F%5Fac%5Fpassword",
    "__ac_password:ignore_empty",
    "_ZopeId",
    "_ZopeId:string",
)


def zope_form(environ, body=b""):
    """The form Zope's publisher reads from ``environ`` and ``body``."""
    environ = {"SERVER_NAME": "nohost", "SERVER_PORT": "80", "REQUEST_METHOD": "GET", **environ}
    request = HTTPRequest(BytesIO(body), environ, HTTPResponse())
    request.processInputs()
    return request.form


def credentials_in(form):
    """The credential fields of a form as Zope filed it, with the secret in their value."""
    return {key for key, value in form.items() if key in scrub.CREDENTIALS and SECRET in str(value)}


class SlowSource(BytesIO):
    """A body read a few bytes at a time, so that names arrive split across chunks."""

    def read(self, size=-1):
        return super().read(3)


class TestAsZopeReadsThem(unittest.TestCase):
    """Each spelling Zope reads as a credential is one; none is left after the scrub."""

    def test_in_the_query(self):
        for spelling in SPELLINGS:
            query = f"a=1&{spelling}={SECRET}&b=2"
            self.assertTrue(credentials_in(zope_form({"QUERY_STRING": query})), spelling)
            kept = scrub.environ({"QUERY_STRING": query, "REQUEST_URI": f"/plone/@@echo?{query}"})
            self.assertEqual(kept["QUERY_STRING"], "a=1&b=2", spelling)
            self.assertEqual(kept["REQUEST_URI"], "/plone/@@echo?a=1&b=2", spelling)

    def test_in_an_urlencoded_body_read_a_few_bytes_at_a_time(self):
        for content_type in ("application/x-www-form-urlencoded; charset=utf-8", "application/x-url-encoded", None):
            for spelling in SPELLINGS:
                body = f"title=Gr%C3%BC%C3%9Fe&{spelling}={SECRET}&n=3".encode()
                environ = {"REQUEST_METHOD": "POST", **({"CONTENT_TYPE": content_type} if content_type else {})}
                self.assertTrue(credentials_in(zope_form(environ, body)), (content_type, spelling))
                target = BytesIO()
                scrub.body(SlowSource(body), content_type, target, "POST")
                self.assertEqual(target.getvalue(), b"title=Gr%C3%BC%C3%9Fe&n=3", (content_type, spelling))

    def test_in_a_multipart_part_name(self):
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type}
        for spelling in SPELLINGS:
            if "%" in spelling:  # a part's name is not percent-decoded
                continue
            for filename in (None, "a.txt"):
                body = multipart(("title", b"Hello", None), (spelling, SECRET.encode(), filename), ("n", b"3", None))
                if filename is None:  # a file's value is its FileUpload
                    self.assertTrue(credentials_in(zope_form(environ, body)), spelling)
                elif ":utf8" not in spelling:  # Zope cannot recode a file
                    self.assertIn(scrub.form_key(spelling), zope_form(environ, body), spelling)
                scrubbed = scrubbed_body(body, content_type)
                self.assertEqual(scrubbed, multipart(("title", b"Hello", None), ("n", b"3", None)), spelling)
                self.assertFalse(set(zope_form(environ, scrubbed)) & scrub.CREDENTIALS, spelling)

    def test_in_a_multipart_part_name_written_otherwise(self):
        content_type = f'multipart/form-data; boundary="{BOUNDARY}"'
        environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type}
        for disposition in (
            "form-data; name=_authenticator",
            'form-data; NAME="_authenticator"',
            'form-data;name="__ac_password"',
            'form-data; filename="x"; name="__ac"',
        ):
            body = (
                f"preamble\r\n--{BOUNDARY}\r\ncontent-disposition: {disposition}\r\n\r\n{SECRET}\r\n"
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n3\r\n--{BOUNDARY}--\r\n"
            ).encode()
            self.assertTrue(set(zope_form(environ, body)) & scrub.CREDENTIALS, disposition)
            scrubbed = scrubbed_body(body, content_type)
            self.assertNotIn(SECRET.encode(), scrubbed, disposition)
            self.assertEqual(zope_form(environ, scrubbed), {"n": "3"}, disposition)

    def test_a_multipart_part_without_a_name_is_not_kept(self):
        """RFC 2231's ``name*=``: Zope files the part under "", and logs in with nothing of it; a value
        someone typed as a password still is no value to keep."""
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type}
        body = (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name*=UTF-8''__ac_password\r\n\r\n{SECRET}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n3\r\n--{BOUNDARY}--\r\n"
        ).encode()
        self.assertEqual(zope_form(environ, body), {"": SECRET, "n": "3"})
        scrubbed = scrubbed_body(body, content_type)
        self.assertNotIn(SECRET.encode(), scrubbed)
        self.assertEqual(zope_form(environ, scrubbed), {"n": "3"})
        request = type("Request", (), {"form": zope_form(environ, body)})()
        self.assertEqual(formvalues.kept_values(request, site_names=frozenset()), (("n", "3"),))  # nor for "Back to the form"

    def test_a_multipart_body_zope_refuses_is_not_kept(self):
        body = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"__ac_password\"\r\n\r\n{SECRET}".encode()
        self.assertEqual(scrubbed_body(body, f"multipart/form-data; boundary={BOUNDARY}"), b"")

    def test_a_body_zope_does_not_read_as_a_form_is_kept(self):
        body = f"__ac_password={SECRET}".encode()
        for method, content_type in (("GET", "application/x-www-form-urlencoded"), ("POST", "text/plain")):
            target = BytesIO()
            scrub.body(BytesIO(body), content_type, target, method)
            self.assertEqual(target.getvalue(), body)
            environ = {"REQUEST_METHOD": method, "CONTENT_TYPE": content_type}
            self.assertFalse(credentials_in(zope_form(environ, body)))

    def test_names_that_are_not_credentials_are_kept(self):
        query = "__ac_persistent=1&came_from=%2Fplone&_authenticatorx=1&__acx=2&a:_authenticator=3&%5F_ac%20=4"
        self.assertEqual(scrub.environ({"QUERY_STRING": query})["QUERY_STRING"], query)
        self.assertFalse(credentials_in(zope_form({"QUERY_STRING": query.replace("=", f"={SECRET}")})))


class TestCookies(unittest.TestCase):
    """The Cookie header read as Zope reads it: quoted values, commas, spaces, repeated names."""

    def assert_only_language(self, header):
        read = parse_cookie(header)
        self.assertIn(SECRET, str(read))
        kept = scrub.cookies(header)
        self.assertNotIn(SECRET, kept, header)
        self.assertEqual(parse_cookie(kept), {"I18N_LANGUAGE": read["I18N_LANGUAGE"]}, header)

    def test_each_spelling(self):
        for header in (
            f'I18N_LANGUAGE="en",__ac="{SECRET}"',
            f'I18N_LANGUAGE="en", __ac={SECRET}',
            f" I18N_LANGUAGE=en ;\t__ac={SECRET}",
            f'I18N_LANGUAGE=en; _authenticator={SECRET}; __ac_password="{SECRET}"',
        ):
            self.assert_only_language(header)
        # Zope reads a name's first cookie; the other is not kept either.
        self.assertEqual(scrub.cookies(f'I18N_LANGUAGE="en"; I18N_LANGUAGE="{SECRET}"'), 'I18N_LANGUAGE="en"')

    def test_a_listed_credential_is_not_kept(self):
        from netsight.asynchronous.tests.helpers.base import setting

        setting(self, "job-cookies", "I18N_LANGUAGE __ac")
        self.assert_only_language(f'I18N_LANGUAGE="en"; __ac="{SECRET}"')

    def test_the_session_id_is_kept_only_if_listed(self):
        from netsight.asynchronous.tests.helpers.base import setting

        self.assert_only_language(f'I18N_LANGUAGE="en"; _ZopeId="{SECRET}"')
        setting(self, "job-cookies", "I18N_LANGUAGE _ZopeId")
        self.assertEqual(parse_cookie(scrub.cookies(f'I18N_LANGUAGE="en"; _ZopeId="{SECRET}"'))["_ZopeId"], SECRET)


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

    def test_headers_that_carry_credentials_in_other_names(self):
        kept = scrub.environ(
            {
                "REDIRECT_HTTP_AUTHORIZATION": f"Basic {SECRET}",
                "HTTP_CGI_AUTHORIZATION": f"Basic {SECRET}",
                "REDIRECT_REDIRECT_HTTP_X_CSRF_TOKEN": SECRET,
                "REDIRECT_QUERY_STRING": f"%5Fauthenticator={SECRET}&a=1",
                "HTTP_X_ORIGINAL_URI": f"/plone/@@echo?__ac={quote(SECRET)}&a=1",
                "HTTP_X_REWRITE_URL": f"/plone/@@echo?a=1&__ac_password:string={SECRET}",
            }
        )
        self.assertNotIn(SECRET, repr(kept))
        self.assertEqual(kept["HTTP_X_ORIGINAL_URI"], "/plone/@@echo?a=1")

    def test_any_header_that_repeats_the_url_or_its_query(self):
        """Envoy's X-Envoy-Original-Path, X-Forwarded-Path, a query alone: no name says it is a URL."""
        kept = scrub.environ(
            {
                "HTTP_X_ENVOY_ORIGINAL_PATH": f"/plone/@@echo?__ac_name=zz&__ac_password={SECRET}&a=1",
                "HTTP_X_FORWARDED_PATH": f"/plone/@@echo?%5F%5Fac_password={SECRET}",
                "HTTP_X_ORIGINAL_ARGS": f"a=1&__ac_password:utf8:ustring={SECRET}",
                "HTTP_ACCEPT": "text/html,application/xhtml+xml;q=0.9",
                "HTTP_X_TRACE": "a?b&c=d",
                "HTTP_X_ORIGINAL_QUERY": f"__ac_password={SECRET}&next=/a?b=1",  # a "?" within the query
                "HTTP_X_FORWARDED_URI": f"/a?x=1, /b?__ac_password={SECRET}",  # joined by a server
                "REQUEST_URI": f"/plone/@@echo?next=/a?__ac={SECRET}",
            }
        )
        self.assertNotIn(SECRET, repr(kept))
        self.assertEqual(kept["HTTP_X_ORIGINAL_QUERY"], "next=/a?b=1")
        self.assertNotIn("HTTP_X_FORWARDED_URI", kept)
        self.assertNotIn("REQUEST_URI", kept)
        self.assertEqual(kept["HTTP_X_ENVOY_ORIGINAL_PATH"], "/plone/@@echo?a=1")
        self.assertEqual(kept["HTTP_X_FORWARDED_PATH"], "/plone/@@echo?")
        self.assertEqual(kept["HTTP_X_ORIGINAL_ARGS"], "a=1")
        self.assertEqual(kept["HTTP_ACCEPT"], "text/html,application/xhtml+xml;q=0.9")
        self.assertEqual(kept["HTTP_X_TRACE"], "a?b&c=d")

    def test_headers_named_as_secrets(self):
        kept = scrub.environ({"HTTP_X_API_KEY": SECRET, "HTTP_X_AUTH_TOKEN": SECRET, "HTTP_X_PASSWORD": SECRET, "HTTP_KEEP_ALIVE": "5"})
        self.assertEqual(kept, {"HTTP_KEEP_ALIVE": "5"})

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

    def test_a_json_login_is_not_kept(self):
        """plone.restapi's PAS plugin logs in with a JSON body's ``login`` and ``password``; they go."""
        from plone.restapi.pas.plugin import JWTAuthenticationPlugin

        def restapi_credentials(body):
            environ = {"SERVER_NAME": "nohost", "SERVER_PORT": "80", "REQUEST_METHOD": "POST"}
            environ["CONTENT_TYPE"] = "application/json"
            request = HTTPRequest(BytesIO(body), environ, HTTPResponse())
            request.processInputs()
            return JWTAuthenticationPlugin("jwt_auth").extractCredentials(request)

        body = json.dumps({"login": "someone", "password": SECRET, "title": "Grüße"}).encode()
        self.assertEqual(restapi_credentials(body)["password"], SECRET)
        scrubbed = scrubbed_body(body, "application/json")
        self.assertNotIn(SECRET.encode(), scrubbed)
        self.assertEqual(json.loads(scrubbed), {"title": "Grüße"})
        self.assertIsNone(restapi_credentials(scrubbed))
        for kept in (b'{"password": "not a login without one"}', b"[1, 2]", b"not json"):
            self.assertEqual(scrubbed_body(kept, "application/json"), kept)

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

    def start_without_login(self, url, body, query=""):
        """POST ``body`` with no Authorization header or cookie; the process id."""
        browser = JobBrowser(self.app, self.site_url, user=None)
        browser.post(f"{url}{query}", urlencode(body))
        self.assertEqual(browser.status, 303, browser.contents[:500])
        return browser.headers["Location"].rsplit("process_id=", 1)[1]

    def assert_ran_as_the_user(self, url, process_id, secret):
        self.assertEqual(self.browser.wait_for(url, process_id)["completed"], True)
        seen = json.loads(self.browser.result(url, process_id))
        self.assertEqual(seen["user"], TEST_USER_ID)
        self.assertIn("Member", seen["roles"])
        self.assertFalse({"__ac", "__ac_name", "__ac_password"} & set(seen["form"]), seen["form"])
        self.assertEqual(seen["form"]["title"], "kept")
        self.assertNotIn(secret, json.dumps(seen))  # not in the query, the body, the cookies: nowhere
        return seen

    def test_a_form_login_runs_the_job_as_its_user_and_is_not_kept(self):
        """``__ac_name`` and ``__ac_password`` in the start's body log in; the job has neither."""
        url = self.url("echo")
        token = self.browser.token
        body = {"__ac_name": TEST_USER_NAME, "__ac_password:string": TEST_USER_PASSWORD, "_authenticator": token}
        process_id = self.start_without_login(url, {**body, "title": "kept"})
        seen = self.assert_ran_as_the_user(url, process_id, TEST_USER_PASSWORD)
        self.assertEqual(seen["body"], "title=kept")

    def test_a_ticket_in_the_query_runs_the_job_as_its_user_and_is_not_kept(self):
        """plone.session's ticket as ``?__ac=`` (no cookie) logs in; the job has none of it."""
        ticket = session_ticket(self.portal, TEST_USER_ID)
        url = self.url("echo")
        token = self.browser.token
        process_id = self.start_without_login(url, {"title": "kept"}, f"?%5F%5Fac={quote(ticket)}&_authenticator:string={token}")
        seen = self.assert_ran_as_the_user(url, process_id, ticket)
        self.assertEqual(seen["query"], "")
        self.assertNotIn(token, json.dumps(seen["query"]))


class TestARenamedSessionCookie(JobTestCase):
    """A site whose plone.session cookie has another name: it goes as ``__ac`` does."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING
    NAME = "__site_session"

    def setUp(self):
        super().setUp()
        self.portal.acl_users.session.cookie_name = self.NAME
        transaction.commit()

    def test_the_ticket_in_the_query_or_the_body_runs_the_job_and_is_not_kept(self):
        ticket = session_ticket(self.portal, TEST_USER_ID, self.NAME)
        url = self.url("echo")
        token = self.browser.token
        for query, body in (
            (f"?{self.NAME}={quote(ticket)}&_authenticator={token}", {"title": "kept"}),
            (f"?_authenticator={token}", {"title": "kept", f"{self.NAME}:string": ticket}),
        ):
            with self.subTest(query=query, body=body):
                process_id = TestTheJobsRequest.start_without_login(self, url, body, query)
                seen = TestTheJobsRequest.assert_ran_as_the_user(self, url, process_id, ticket)
                self.assertNotIn(self.NAME, json.dumps(seen))

    def test_the_ticket_in_the_body_is_not_kept_for_back_to_the_form(self):
        ticket = session_ticket(self.portal, TEST_USER_ID, self.NAME)
        url = self.url("echo")
        body = {"title": "kept", f"{self.NAME}:string": ticket}
        process_id = TestTheJobsRequest.start_without_login(self, url, body, f"?_authenticator={self.browser.token}")
        kept = dict(self.fresh_record(process_id).form_values)  # what "Back to the form" posts, before the result is out
        self.assertEqual(kept, {"title": "kept"})

    def test_the_cookie_is_not_kept_even_if_listed(self):
        from netsight.asynchronous.tests.helpers.base import setting

        setting(self, "job-cookies", f"I18N_LANGUAGE {self.NAME}")
        ticket = session_ticket(self.portal, TEST_USER_ID, self.NAME)
        browser = JobBrowser(self.app, self.site_url, user=None)
        browser.addHeader("Cookie", f'{self.NAME}="{quote(ticket)}"; I18N_LANGUAGE=en')
        url = self.url("echo")
        browser.post(url, urlencode({"title": "kept", "_authenticator": self.browser.token}))
        self.assertEqual(browser.status, 303, browser.contents[:500])
        process_id = browser.headers["Location"].rsplit("process_id=", 1)[1]
        self.assertEqual(browser.wait_for(url, process_id)["completed"], True)
        seen = json.loads(browser.result(url, process_id))
        self.assertEqual(seen["user"], TEST_USER_ID)
        self.assertEqual(seen["cookies"], ["I18N_LANGUAGE"])

    def test_what_the_site_logs_in_with(self):
        request = self.layer["request"]
        request["PARENTS"] = [self.portal, self.app]
        self.assertEqual(scrub.site_login_names(request), {self.NAME})
        self.portal.acl_users.session.cookie_name = "__ac"
        self.assertEqual(scrub.site_login_names(request), set())


class TestTheJobsResponseCookies(JobTestCase):
    """A job that updates its user's credentials (a password change): no cookie that logs in is kept."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def check(self, session_cookie):
        url, process_id, answer = self.run_job("changes-password")
        self.assertEqual(answer["completed"], True, answer)
        kept = self.fresh_record(process_id).result.response
        self.assertEqual(set(kept.cookies), {"report"})
        self.assertEqual([value for name, value in kept.accumulated_headers if name.lower() == "set-cookie"], [])
        served = self.browser.testapp.get(
            f"{url}/result?process_id={process_id}", headers=self.browser._req_headers, expect_errors=True
        )
        self.assertEqual(served.status_int, 200)
        self.assertEqual([cookie.split("=", 1)[0] for cookie in served.headers.getall("Set-Cookie")], ["report"])
        self.assertNotIn(session_cookie, str(served.headers))

    def test_the_session_ticket(self):
        self.check("__ac")

    def test_a_renamed_session_ticket(self):
        self.portal.acl_users.session.cookie_name = "__site_session"
        transaction.commit()
        self.check("__site_session")


def session_ticket(portal, user_id, name="__ac"):
    """A plone.session ticket of ``user_id``: the value of its cookie (``name``)."""
    response = HTTPResponse()
    setSite(portal)
    try:
        portal.acl_users.session._setupSession(user_id, response)
    finally:
        setSite(None)
    transaction.commit()  # the plugin may have made its signing key
    return unquote(response.cookies[name]["value"])
