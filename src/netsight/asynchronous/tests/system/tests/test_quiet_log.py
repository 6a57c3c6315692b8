"""In a real instance: the status pages below any context, a GET on cancel and a bad start leave the event log quiet.

The test layers' publisher feeds no site error log, so what Zope logs of
an answer is read here where an operator reads it: the event log of a
real instance (tests/instances.py), into which the site's error log
copies every error it records, with its traceback.
"""

from plone.testing import Layer

from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MANAGER
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import wait_until
from netsight.asynchronous.tests.test_ownership import without_tokens

import json
import unittest


SITE_PATH = "/plone"
UNKNOWN = "0" * 32
CONTEXTS = ("@@plone", "@@plone/@@plone_context_state", "++resource++netsight.async.js")
PAGES = ("processing", "completed", "result", "completed?output_json=1", "result?output_json=1")
NOISE = ("Traceback", "ERROR", "AttributeError", "MethodNotAllowed", "BadRequest", "BadStartError")


class OneSiteLayer(Layer):
    """One instance on a FileStorage with the Plone site /plone."""

    def setUp(self):
        self.cluster = Cluster("netsight-async-quiet")
        instance = self.cluster.instance()
        instance.create_site(SITE_PATH)  # before start: a FileStorage has one user
        instance.start()
        self["instance"] = instance

    def tearDown(self):
        self.cluster.close()
        del self["instance"]


ONE_SITE = OneSiteLayer(name="NetsightAsync:QuietLog")


class TestQuietLog(unittest.TestCase):
    layer = ONE_SITE

    def setUp(self):
        self.instance = self.layer["instance"]
        self.site_url = self.instance.url + SITE_PATH
        self.member = Client(*MEMBER)

    def start(self, client, view="hello", state="done"):
        token = client.token(f"{self.site_url}/@@own-template")
        answer = client.post(f"{self.site_url}/@@{view}", {"_authenticator": token} if token else {})
        self.assertEqual(answer.status, 303, answer.text[:500])
        process_id = answer.location.rsplit("process_id=", 1)[1]
        status_url = f"{self.site_url}/@@{view}/completed?output_json=1&process_id={process_id}"
        wait_until(lambda: json.loads(client.get(status_url).body)["state"] == state, 60, f"{process_id} {state}")
        return process_id

    def new_log(self, since):
        return self.instance.log.read_text(errors="replace")[since:]

    def test_nothing_logged_below_a_browser_view_nor_for_a_get_on_cancel(self):
        anonymous = Client()
        mine, theirs = self.start(self.member), self.start(anonymous)
        since = len(self.instance.log.read_text(errors="replace"))
        with logs_on_failure(self.instance):
            for client in (self.member, anonymous, Client(*MANAGER), Client()):
                for process_id in (mine, theirs):
                    for prefix in CONTEXTS:
                        for page in PAGES:
                            url = f"{self.site_url}/{prefix}/@@hello/{page}{'&' if '?' in page else '?'}process_id="
                            seen, unknown = client.get(url + process_id), client.get(url + UNKNOWN)
                            self.assertEqual(
                                (seen.status, without_tokens(seen.text)), (unknown.status, without_tokens(unknown.text)), url
                            )
                            self.assertEqual(seen.status, 404, url)
                    for method in ("GET", "HEAD"):
                        answer = client.request(method, f"{self.site_url}/@@hello/cancel?process_id={process_id}")
                        self.assertEqual((answer.status, answer.headers["Allow"]), (405, "POST"))
            log = self.new_log(since)
            self.assertEqual([word for word in NOISE if word in log], [], log[-3000:])
        # the results are still there, for their owners
        for client, process_id in ((self.member, mine), (anonymous, theirs)):
            self.assertEqual(client.get(f"{self.site_url}/@@hello/result?process_id={process_id}").text, "Hello world!")

    def test_a_failed_process_an_unknown_id_and_a_missing_one_are_answers_not_errors(self):
        failed = self.start(self.member, "fails", "failed")  # the job's own traceback is logged: that is before
        shown = self.start(self.member)
        self.assertEqual(self.member.get(f"{self.site_url}/@@hello/result?process_id={shown}").text, "Hello world!")
        since = len(self.instance.log.read_text(errors="replace"))
        for page in ("processing", "completed", "result"):
            for view, process_id, status in (
                ("fails", failed, 500),
                ("fails", UNKNOWN, 404),
                ("fails", "", 400),
                ("hello", shown, 410),  # its result already shown, to its owner
            ):
                answer = self.member.get(f"{self.site_url}/@@{view}/{page}?process_id={process_id}")
                self.assertEqual(answer.status, status, (page, process_id))
        log = self.new_log(since)
        self.assertEqual([word for word in NOISE if word in log], [], log[-3000:])

    def test_a_bad_start_is_an_answer_not_an_error(self):
        since = len(self.instance.log.read_text(errors="replace"))
        anonymous = Client()
        answers = []
        with logs_on_failure(self.instance):
            for client in (self.member, anonymous):
                token = client.token(f"{self.site_url}/@@own-template")
                form = {"_authenticator": token} if token else {}
                # a form that lacks an argument of __run__; a start below a context without a path
                for url in (f"{self.site_url}/@@arguments", f"{self.site_url}/@@plone/@@hello"):
                    answers.append((url, client.post(url, form)))
            log = self.new_log(since)
            self.assertEqual([word for word in NOISE if word in log], [], log[-3000:])
        for url, answer in answers:
            self.assertEqual(answer.status, 400, url)
            self.assertIn("netsight-async-bad-start", answer.text, url)
