""""Back to the form" leads to the form as it was posted: its values, never a credential or a file."""

from netsight.asynchronous.formvalues import MAX_LENGTH
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.base import at_view
from netsight.asynchronous.tests.base import JobBrowser
from netsight.asynchronous.tests.base import JobTestCase
from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_PASSWORD
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import lxml.html
import re
import transaction


def back_link(html):
    """The href of the page's "Back to the form" link (a failed process's, a refused start's, an unknown id's)."""
    (link,) = lxml.html.fromstring(html).xpath('//a[contains(@class, "netsight-async-back")]/@href')
    return link


class TestBackToTheForm(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def failed_job(self, **form):
        """Start ``steady`` that fails at once with ``form``; returns its failure page's back link."""
        url = self.url("steady")
        process_id = self.browser.start(url, steps="1", delay="0", fail="boom", **form)
        answer = self.browser.wait_for(url, process_id)
        self.assertEqual(answer["state"], "failed", answer)
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 500)
        self.assertIn("The process failed.", self.browser.text)
        return process_id, back_link(self.browser.text)

    def split(self, href):
        """The link's URL without its query, and its query's fields."""
        parts = urlsplit(href)
        return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query, keep_blank_values=True)

    def test_the_failure_page_keeps_the_values(self):
        _, href = self.failed_job(
            note="Grüße & co = 100%",
            **{"tags:list": ["a", "b c"], "count:int": "5", "_ZopeId": "a-session-id"},
        )
        url, fields = self.split(href)
        self.assertEqual(url, at_view(self.url("steady")))
        self.assertEqual(
            fields,
            {
                "steps": ["1"],
                "delay": ["0"],
                "fail": ["boom"],
                "note": ["Grüße & co = 100%"],
                "tags:list": ["a", "b c"],
                "count": ["5"],
            },
        )
        self.assertNotIn("_authenticator", href)
        self.assertNotIn(self.browser.token, href)
        self.assertNotIn("a-session-id", href)

    def test_a_value_past_the_cap_is_left_out(self):
        _, href = self.failed_job(big="x" * MAX_LENGTH, small="kept")
        url, fields = self.split(href)
        self.assertNotIn("big", fields)
        self.assertEqual(fields["small"], ["kept"])
        self.assertLessEqual(len(urlsplit(href).query), MAX_LENGTH)

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
        _, fields = self.split(back_link(self.browser.text))
        self.assertEqual(fields, {"steps": ["1"], "delay": ["0"], "fail": ["boom"], "n": ["7"]})

    def test_a_refused_start_keeps_the_values_but_the_token(self):
        self.browser.post(self.url("steady"), urlencode({"_authenticator": "wrong", "note": "mine"}))
        self.assertEqual(self.browser.status, 403)
        self.assertIn("The form could not be sent.", self.browser.text)
        self.assertEqual(back_link(self.browser.text), f"{at_view(self.url('steady'))}?note=mine")

    def test_someone_else_gets_the_bare_form(self):
        """Another Member reads the unknown id's page, whose link carries nothing."""
        process_id, href = self.failed_job(note="mine")
        self.assertIn("note=mine", href)
        acl_users = self.portal.acl_users
        acl_users.userFolderAddUser("other", TEST_USER_PASSWORD, ["Member"], [])
        setRoles(self.portal, "other", ["Member"])
        transaction.commit()
        other = JobBrowser(self.app, self.site_url, "other", TEST_USER_PASSWORD)
        url = self.url("steady")
        other.open(f"{url}/processing?process_id={process_id}")
        theirs = other.text
        self.assertEqual(other.status, 404)
        self.assertEqual(back_link(theirs), at_view(url))
        other.open(f"{url}/processing?process_id={'0' * 32}")
        csrf_token = re.compile(r"\b[0-9a-f]{40}\b")  # plone.protect's, new in each page
        self.assertEqual(csrf_token.sub("TOKEN", other.text), csrf_token.sub("TOKEN", theirs))
