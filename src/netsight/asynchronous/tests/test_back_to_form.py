""""Back to the form" posts the form's values back to it, never in a URL, never a secret, and starts nothing."""

from netsight.asynchronous import registry
from netsight.asynchronous.formvalues import MARKER
from netsight.asynchronous.formvalues import MAX_LENGTH
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import ZOPE_MANAGER_NAME
from netsight.asynchronous.testing import ZOPE_MANAGER_PASSWORD
from netsight.asynchronous.tests.helpers import views
from netsight.asynchronous.tests.helpers.base import at_view
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_PASSWORD
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import lxml.html
import re
import transaction


MARKED = (MARKER, "1")


def back_form(html, button_class="netsight-async-back"):
    """The page's "Back to the form" form: (its action, its method, its hidden fields as (name, value) pairs).

    plone.protect's transform gives every POST form of a Plone page the
    viewer's own CSRF token (``_authenticator``): left out here.
    """
    page = lxml.html.fromstring(html)
    (button,) = page.xpath(f'//button[contains(concat(" ", normalize-space(@class), " "), " {button_class} ")]')
    self_text = button.text_content().strip()
    assert self_text == "Back to the form", self_text
    (form,) = button.xpath("ancestor::form[1]")
    fields = [
        (field.get("name"), field.get("value"))
        for field in form.xpath('.//input[@type="hidden"]')
        if field.get("name") != "_authenticator"
    ]
    return form.get("action"), form.get("method"), fields


def urls(html):
    """Every URL of the page: its links, its forms' actions, its sources."""
    return lxml.html.fromstring(html).xpath("//@href | //@action | //@src")


class TestBackToTheForm(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def failed_job(self, view="steady", browser=None, **form):
        """Start ``view`` failing at once with ``form``; returns its id and its failure page's HTML."""
        browser = browser or self.browser
        url = self.url(view)
        if view.startswith("steady"):
            form = dict(steps="1", delay="0", fail="boom", **form)
        process_id = browser.start(url, **form)
        answer = browser.wait_for(url, process_id)
        self.assertEqual(answer["state"], "failed", answer)
        browser.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(browser.status, 500)
        self.assertIn("The process failed.", browser.text)
        return process_id, browser.text

    def records(self):
        transaction.begin()
        return len(self.app._p_jar.root().get(registry.ROOT_KEY) or ())

    def send_back(self, browser, html):
        """Click "Back to the form": POST its hidden fields to its action, as a browser does."""
        action, method, fields = back_form(html)
        self.assertEqual(method, "post")
        browser.post(action, urlencode(fields))
        return browser.text

    def test_the_failure_page_posts_the_values_back(self):
        _, html = self.failed_job(
            note="Grüße & co = 100%",
            **{"tags:list": ["a", "b c"], "count:int": "5", "_ZopeId": "a-session-id"},
        )
        action, method, fields = back_form(html)
        self.assertEqual((action, method), (at_view(self.url("steady")), "post"))
        self.assertEqual(
            sorted(fields),
            sorted(
                [
                    MARKED,
                    ("steps", "1"),
                    ("delay", "0"),
                    ("fail", "boom"),
                    ("note", "Grüße & co = 100%"),
                    ("tags:list", "a"),
                    ("tags:list", "b c"),
                    ("count", "5"),
                ]
            ),
        )
        self.assertNotIn("a-session-id", html)
        # No value in any URL of the page (logs, proxies, history, Referer).
        for url in urls(html):
            for value in ("Gr", "boom", "b c", "b+c", "b%20c", "count", "note"):
                self.assertNotIn(value, url, url)

    def test_the_back_button_refills_the_form_and_starts_nothing(self):
        """The README's ``run_process``, ``"run" in self.request.form``: the
        posted-back ``run`` (its button's name) starts no job, for anyone."""
        process_id, html = self.failed_job("refilled", n="1234", run="", fail="boom")
        action, _, fields = back_form(html)
        self.assertEqual(action, at_view(self.url("refilled")))
        self.assertIn(("run", ""), fields)  # kept: it starts nothing once posted back
        records, ran = self.records(), list(views.Refilled.ran)
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        for who, browser in (("its owner", self.browser), ("anonymous", anonymous)):
            with self.subTest(who=who):
                browser.post(action, urlencode(fields))  # no CSRF token: none is needed to see a form
                self.assertEqual(browser.status, 200, browser.text[:300])
                page = lxml.html.fromstring(browser.text)
                self.assertEqual(page.get_element_by_id("n").get("value"), "1234")
                # The template saw the form's values, not the marker.
                keys = set(page.get_element_by_id("form-keys").text_content().split()) - {"_authenticator"}
                self.assertEqual(keys, {"fail", "n", "run"})
                self.assertEqual(self.records(), records)
                self.assertEqual(views.Refilled.ran, ran)

    def test_a_view_calling_run_itself_starts_nothing_from_it(self):
        """1.x's way, its own ``__call__`` calling ``_run`` on a POST: a 400, nothing recorded."""
        records, runs = self.records(), list(views.LegacyExport.runs)
        self.browser.post(
            self.url("legacy-export"), urlencode({MARKER: "1", "_authenticator": self.browser.token, "rows": "3"})
        )
        self.assertEqual(self.browser.status, 400)
        self.assertNotIn("Traceback", self.browser.text)
        self.assertEqual(self.records(), records)
        self.assertEqual(views.LegacyExport.runs, runs)

    def test_secret_looking_names_are_left_out(self):
        kept = {"spinner": "1", "keyboard": "qwerty", "pinned": "yes", "tokens_used": "3", "note": "x", "passenger": "y"}
        secret = {
            "form.widgets.password": "s1",
            "api_key": "s2",
            "apiKey": "s3",
            "user_pin": "s4",
            "cardNumber": "s5",
            "IBAN": "s6",
            "otp:int": "7",
            "client-secret": "s8",
            "my.passwd": "s9",
            "password1": "s10",
            "new_password2": "s11",
            "newpassword": "s12",
            "passphrase": "s13",
            "pw": "s14",
            "kennwort": "s15",
            "mfa_code": "s16",
        }
        _, html = self.failed_job(**kept, **secret)
        _, _, fields = back_form(html)
        names = {name for name, _value in fields}
        self.assertEqual(names - {MARKER, "steps", "delay", "fail"}, set(kept))
        for value in ("s1", "s2", "s3", "s4", "s5", "s6", "s8", "s9", *(f"s{number}" for number in range(10, 17))):
            self.assertNotIn(f'value="{value}"', html)

    def test_a_view_names_the_fields_kept(self):
        _, html = self.failed_job("refilled-few-fields", n="5", note="not kept", run="", fail="boom")
        self.assertEqual(back_form(html)[2], [MARKED, ("n", "5")])

    def test_a_value_past_the_cap_is_left_out(self):
        _, html = self.failed_job(big="x" * MAX_LENGTH, small="kept")
        _, _, fields = back_form(html)
        self.assertNotIn("big", dict(fields))
        self.assertEqual(dict(fields)["small"], "kept")
        self.assertLessEqual(sum(len(name) + len(value) for name, value in fields if name != MARKER), MAX_LENGTH)

    def test_a_file_is_left_out(self):
        boundary = "netsight-boundary"
        parts = {"_authenticator": self.browser.token, "steps": "1", "delay": "0", "fail": "boom", "n": "7"}
        body = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in parts.items()
        )
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; filename="secret.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\nthe file's content\r\n--{boundary}--\r\n"
        )
        url = self.url("steady")
        self.browser.post(url, body.encode("utf-8"), f"multipart/form-data; boundary={boundary}")
        self.assertEqual(self.browser.status, 303, self.browser.text[:300])
        process_id = parse_qs(urlsplit(self.browser.headers["Location"]).query)["process_id"][0]
        self.browser.wait_for(url, process_id)
        self.browser.open(f"{url}/processing?process_id={process_id}")
        _, _, fields = back_form(self.browser.text)
        self.assertEqual(
            sorted(fields), sorted([MARKED, ("steps", "1"), ("delay", "0"), ("fail", "boom"), ("n", "7")])
        )

    def test_a_refused_start_posts_the_values_back_but_the_token(self):
        self.browser.post(self.url("refilled"), urlencode({"_authenticator": "wrong", "n": "42", "run": ""}))
        self.assertEqual(self.browser.status, 403)
        self.assertIn("The form could not be sent.", self.browser.text)
        action, _, fields = back_form(self.browser.text)
        self.assertEqual((action, fields), (at_view(self.url("refilled")), [MARKED, ("n", "42"), ("run", "")]))
        self.assertNotIn("wrong", self.browser.text)
        # Its button leads to the form, filled in, not to another 403.
        page = lxml.html.fromstring(self.send_back(self.browser, self.browser.text))
        self.assertEqual(self.browser.status, 200)
        self.assertEqual(page.get_element_by_id("n").get("value"), "42")

    def test_a_manager_gets_no_values_of_the_owner(self):
        process_id, html = self.failed_job(note="mine")
        self.assertIn(("note", "mine"), back_form(html)[2])
        manager = owner_browser(self.app, self.site_url)
        manager.open(f"{self.url('steady')}/processing?process_id={process_id}")
        self.assertEqual(manager.status, 500)
        self.assertEqual(back_form(manager.text), (at_view(self.url("steady")), "post", [MARKED]))
        self.assertNotIn("mine", manager.text)

    def test_the_values_go_once_the_result_is_taken(self):
        url, process_id, answer = self.run_job("steady", steps="1", delay="0", note="mine")
        self.assertEqual(answer["state"], "done", answer)
        self.assertIn(("note", "mine"), self.fresh_record(process_id).form_values)
        self.browser.result(url, process_id)
        self.assertEqual(self.fresh_record(process_id).form_values, ())
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 410)  # already shown: its way back posts nothing more
        self.assertEqual(back_form(self.browser.text)[2], [MARKED])

    def test_someone_else_gets_the_bare_form(self):
        """Another Member reads the unknown id's page, whose button posts nothing."""
        process_id, html = self.failed_job(note="mine")
        self.assertIn(("note", "mine"), back_form(html)[2])
        acl_users = self.portal.acl_users
        acl_users.userFolderAddUser("other", TEST_USER_PASSWORD, ["Member"], [])
        setRoles(self.portal, "other", ["Member"])
        transaction.commit()
        other = JobBrowser(self.app, self.site_url, "other", TEST_USER_PASSWORD)
        url = self.url("steady")
        other.open(f"{url}/processing?process_id={process_id}")
        theirs = other.text
        self.assertEqual(other.status, 404)
        self.assertEqual(back_form(theirs), (at_view(url), "post", [MARKED]))
        other.open(f"{url}/processing?process_id={'0' * 32}")
        csrf_token = re.compile(r"\b[0-9a-f]{40}\b")  # plone.protect's, new in each page
        self.assertEqual(csrf_token.sub("TOKEN", other.text), csrf_token.sub("TOKEN", theirs))


class TestInPlainZope(JobTestCase):
    """Plain Zope (no plone.protect): a user's click on "Back to the form" starts nothing either."""

    layer = NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING

    def test_the_back_button_refills_the_form_and_starts_nothing(self):
        browser = JobBrowser(self.app, self.site_url, ZOPE_MANAGER_NAME, ZOPE_MANAGER_PASSWORD)
        url = self.url("refilled")
        process_id = browser.start(url, n="77", run="", fail="boom")
        self.assertEqual(browser.wait_for(url, process_id)["state"], "failed")
        browser.open(f"{url}/processing?process_id={process_id}")
        action, method, fields = back_form(browser.text)
        self.assertEqual((action, method), (at_view(url), "post"))
        self.assertEqual(sorted(fields), sorted([MARKED, ("n", "77"), ("run", ""), ("fail", "boom")]))
        ran = list(views.Refilled.ran)
        browser.post(action, urlencode(fields))
        self.assertEqual(browser.status, 200)
        self.assertEqual(lxml.html.fromstring(browser.text).get_element_by_id("n").get("value"), "77")
        self.assertEqual(views.Refilled.ran, ran)
