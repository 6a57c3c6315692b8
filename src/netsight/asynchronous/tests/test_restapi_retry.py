"""``POST @async-processes/<id>/retry`` over real HTTP, and the attempts in the REST summaries."""

from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD

from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.testing import NETSIGHT_ASYNC_RESTAPI_TESTING
from netsight.asynchronous.testing import OTHER_MEMBER_NAME
from netsight.asynchronous.testing import OTHER_MEMBER_PASSWORD
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.retry_views import RUNS
from netsight.asynchronous.tests.test_restapi import Client
from netsight.asynchronous.tests.test_restapi import OPENER

import json
import unittest
import urllib.error
import urllib.request
import uuid


class TestRestRetry(unittest.TestCase):
    layer = NETSIGHT_ASYNC_RESTAPI_TESTING

    def setUp(self):
        self.addCleanup(join_workers)  # first registered, so last run
        self.site_url = f"{chromium_server_url(self.layer)}/{self.layer['portal'].getId()}"
        self.member = Client(self.site_url, TEST_USER_NAME, TEST_USER_PASSWORD)
        self.other = Client(self.site_url, OTHER_MEMBER_NAME, OTHER_MEMBER_PASSWORD)
        self.manager = Client(self.site_url, SITE_OWNER_NAME, SITE_OWNER_PASSWORD)

    def failed(self, view="fails-once"):
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        process_id = self.member.start(view, token=token)
        self.assertEqual(self.member.wait_for(process_id)["state"], "failed")
        return process_id, token

    def retry(self, client, process_id):
        return client.request("POST", f"@async-processes/{process_id}/retry")

    def test_the_owner_retries_a_failed_process_201_with_the_new_ones_summary(self):
        process_id, token = self.failed()
        answer = self.retry(self.member, process_id)
        self.assertEqual(answer.status, 201)
        new = answer.json
        new_id = new["process_id"]
        self.assertNotEqual(new_id, process_id)
        self.assertEqual(answer.headers["Location"], f"{self.site_url}/@async-processes/{new_id}")
        self.assertEqual(new["@id"], answer.headers["Location"])
        self.assertEqual((new["attempt"], new["retry_of"], new["retried_by"]), (2, process_id, None))
        self.assertIn(new["state"], ("queued", "running", "done"))
        self.assertEqual(self.member.wait_for(new_id)["state"], "done")
        self.assertEqual(len(RUNS[token]), 2)
        old = self.member.process(process_id).json
        self.assertEqual((old["retried_by"], old["retryable"]), (new_id, False))
        items = {item["process_id"]: item for item in self.member.processes()["items"]}
        self.assertEqual(
            {key: items[new_id][key] for key in ("attempt", "max_attempts", "retry_of", "retried_by")},
            {"attempt": 2, "max_attempts": 1, "retry_of": process_id, "retried_by": None},  # its view has no automatic retry
        )
        self.assertEqual((items[process_id]["attempt"], items[process_id]["retried_by"]), (1, new_id))

    def test_a_second_retry_and_a_done_process_answer_409(self):
        process_id, token = self.failed()
        new_id = self.retry(self.member, process_id).json["process_id"]
        self.member.wait_for(new_id)
        for pid, state in ((process_id, "failed"), (new_id, "done")):
            answer = self.retry(self.member, pid)
            self.assertEqual(answer.status, 409)
            self.assertEqual((answer.json["error"]["type"], answer.json["state"]), ("Conflict", state))
        self.assertEqual(len(RUNS[token]), 2)

    def test_an_unknown_an_invisible_or_a_not_allowed_process_is_byte_for_byte_the_unknown_ids_404(self):
        process_id, token = self.failed()
        unknown = self.retry(self.other, uuid.uuid4().hex)
        self.assertEqual(unknown.status, 404)
        self.assertEqual(unknown.body, self.other.process(uuid.uuid4().hex).body)
        refused = self.retry(self.other, process_id)
        self.assertEqual((refused.status, refused.body), (404, unknown.body))
        anonymous = Client(self.site_url)
        self.assertEqual(self.retry(anonymous, process_id).status, 404)
        not_allowed, _token = self.failed("fails-no-retry")
        answer = self.retry(self.member, not_allowed)
        self.assertEqual((answer.status, answer.body), (404, self.retry(self.member, uuid.uuid4().hex).body))
        self.assertIsNone(self.member.process(process_id).json["retried_by"])
        self.assertEqual(len(RUNS[token]), 1)

    def test_a_manager_retries_a_members_process(self):
        process_id, token = self.failed()
        answer = self.retry(self.manager, process_id)
        self.assertEqual(answer.status, 201)
        new_id = answer.json["process_id"]
        self.assertEqual(self.member.wait_for(new_id)["state"], "done")  # the member's still

    def test_a_post_from_another_site_is_refused(self):
        process_id, token = self.failed()
        headers = {"Accept": "application/json", "Authorization": self.member.authorization}
        for name, value in (("Origin", "https://elsewhere.example"), ("Sec-Fetch-Site", "cross-site")):
            url = f"{self.site_url}/@async-processes/{process_id}/retry"
            request = urllib.request.Request(url, b"", {**headers, name: value}, method="POST")
            with self.assertRaises(urllib.error.HTTPError) as raised:
                OPENER.open(request, timeout=60)
            self.assertEqual(raised.exception.code, 403)
        self.assertIsNone(self.member.process(process_id).json["retried_by"])
        self.assertEqual(len(RUNS[token]), 1)

    def test_the_409_and_403_texts_are_translated(self):
        process_id, token = self.failed()
        new_id = self.retry(self.member, process_id).json["process_id"]
        self.member.wait_for(new_id)
        from plone.registry.interfaces import IRegistry
        from zope.component import getUtility

        import transaction

        settings = getUtility(IRegistry, context=self.layer["portal"])  # Plone negotiates the language
        settings["plone.available_languages"] = ["en", "de", "it"]
        settings["plone.use_request_negotiation"] = True
        transaction.commit()
        headers = {"Accept": "application/json", "Authorization": self.member.authorization, "Accept-Language": "de"}
        url = f"{self.site_url}/@async-processes/{process_id}/retry"
        for extra, code, text in (
            ({}, 409, "Der Prozess kann nicht erneut laufen (failed)"),
            ({"Origin": "https://elsewhere.example"}, 403, "Ein erneuter Versuch kann nicht von einer anderen Website"),
        ):
            with self.assertRaises(urllib.error.HTTPError) as raised:
                OPENER.open(urllib.request.Request(url, b"", {**headers, **extra}, method="POST"), timeout=60)
            self.assertEqual(raised.exception.code, code)
            self.assertIn(text, json.loads(raised.exception.read())["error"]["message"])

    def test_a_retry_of_an_only_once_job_whose_key_another_holds_answers_as_a_second_start(self):
        from netsight.asynchronous.tests.helpers.views import GATES
        from netsight.asynchronous.tests.helpers.views import new_gate

        gate = new_gate(self)
        token = uuid.uuid4().hex
        self.addCleanup(RUNS.pop, token, None)
        process_id = self.member.start("once-fails-then-waits", token=token, gate=gate)
        self.assertEqual(self.member.wait_for(process_id)["state"], "failed")
        holder = self.other.start("once-fails-then-waits", token=token, gate=gate)  # the key is free once it failed
        refused = self.retry(self.member, process_id)  # the other member's: nothing of it
        self.assertEqual((refused.status, refused.json["already_running"]), (409, True))
        self.assertNotIn(holder, refused.body.decode())
        answer = self.retry(self.manager, process_id)  # a manager sees it
        self.assertEqual((answer.status, answer.json["process_id"], answer.json["already_running"]), (200, holder, True))
        self.assertEqual(answer.headers["Location"], f"{self.site_url}/@async-processes/{holder}")
        self.assertIsNone(self.member.process(process_id).json["retried_by"])
        GATES[gate].set()
        self.assertEqual(self.other.wait_for(holder)["state"], "done")
