"""The JSON API through plone.restapi, over real HTTP: ``@async-processes``.

A member, another member, the site's Manager and anonymous browsers start
jobs with a POST that accepts JSON (as a script does) and list, read and
cancel processes as plone.restapi's clients do: ``Accept:
application/json``, Basic authentication.
"""

from base64 import b64encode
from pathlib import Path
from plone.app.testing import setRoles
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.app.testing import TEST_USER_ID
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD
from urllib.parse import urlencode
from urllib.parse import urljoin

from netsight.asynchronous import registry
from netsight.asynchronous import settings
from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.testing import NETSIGHT_ASYNC_RESTAPI_TESTING
from netsight.asynchronous.testing import OTHER_MEMBER_NAME
from netsight.asynchronous.testing import OTHER_MEMBER_PASSWORD
from netsight.asynchronous.tests.helpers.base import idle_pool
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.views import GATES
from netsight.asynchronous.tests.helpers.views import new_gate

import datetime
import json
import re
import transaction
import unittest
import urllib.error
import urllib.request
import uuid


TOKEN = re.compile(r'name="_authenticator"\s+value="([^"]+)"|value="([^"]+)"\s+name="_authenticator"')
COOKIE = re.compile(r"(netsight_async_owner=[^;]+)")
ENDED = frozenset({"done", "failed", "cancelled", "interrupted"})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(_NoRedirects)


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8")


class Client:
    """One caller: a user (Basic authentication) or an anonymous browser (its cookie)."""

    def __init__(self, site_url, user=None, password=None):
        self.site_url = site_url
        self.authorization = None
        if user is not None:
            self.authorization = "Basic " + b64encode(f"{user}:{password}".encode()).decode()
        self.cookie = None
        self._token = None

    def request(self, method, url, form=None, accept="application/json"):
        """``url``: absolute, or relative to the site."""
        headers = {"Accept": accept}
        if self.authorization:
            headers["Authorization"] = self.authorization
        if self.cookie:
            headers["Cookie"] = self.cookie
        data = None
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(urljoin(self.site_url + "/", url), data, headers, method=method)
        try:
            with OPENER.open(request, timeout=60) as response:
                answer = Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, error.headers, error.read())
        cookie = COOKIE.search(answer.headers.get("Set-Cookie") or "")
        if cookie:
            self.cookie = cookie.group(1)
        return answer

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def delete(self, url):
        return self.request("DELETE", url)

    @property
    def token(self):
        """plone.protect's token for this user, read off a form; '' for an anonymous browser."""
        if self.authorization is None:
            return ""
        if self._token is None:
            page = self.get("own-template", accept="text/html").text
            self._token = next(group for group in TOKEN.search(page).groups() if group)
        return self._token

    def start(self, view, **form):
        """Start a job as a script does (``Accept: application/json``); returns its id."""
        if self.token:
            form["_authenticator"] = self.token
        answer = self.request("POST", view, form=form)
        assert answer.status == 202, (answer.status, answer.body[:500])
        return answer.json["process_id"]

    def process(self, process_id):
        return self.get(f"@async-processes/{process_id}")

    def processes(self, query=""):
        answer = self.get(f"@async-processes{query}")
        assert answer.status == 200, (answer.status, answer.body[:500])
        return answer.json

    def listed(self, query=""):
        return [item["process_id"] for item in self.processes(query)["items"]]

    def wait_for(self, process_id, states=ENDED):
        """Read the process until its state is one of ``states``; returns its status."""
        return wait_until(
            lambda: (answer := self.process(process_id).json).get("state") in states and answer,
            what=f"process {process_id} to be {'/'.join(sorted(states))}",
        )


class TestRestAPI(unittest.TestCase):
    layer = NETSIGHT_ASYNC_RESTAPI_TESTING

    def setUp(self):
        self.addCleanup(join_workers)  # first registered, so last run
        idle_pool()  # the cancel tests count on the pool's threads
        self.site_url = f"{chromium_server_url(self.layer)}/{self.layer['portal'].getId()}"
        self.member = Client(self.site_url, TEST_USER_NAME, TEST_USER_PASSWORD)
        self.other = Client(self.site_url, OTHER_MEMBER_NAME, OTHER_MEMBER_PASSWORD)
        self.manager = Client(self.site_url, SITE_OWNER_NAME, SITE_OWNER_PASSWORD)

    def run_job(self, client, view="hello", **form):
        process_id = client.start(view, **form)
        client.wait_for(process_id)
        return process_id

    def gate(self):
        return new_gate(self)

    def running(self, client, **form):
        """A ``gate`` job of ``client``, read running; returns (its id, its gate)."""
        gate = self.gate()
        process_id = client.start("gate", gate=gate, **form)
        client.wait_for(process_id, {"running"})
        return process_id, gate

    # Listing.

    def test_a_member_lists_their_own_only(self):
        own = self.run_job(self.member)
        others = self.run_job(self.other)
        answer = self.member.processes()
        self.assertEqual(answer["@id"], f"{self.site_url}/@async-processes")
        self.assertEqual(answer["items_total"], 1)
        self.assertNotIn("batching", answer)
        (item,) = answer["items"]
        view_url = f"{self.site_url}/@@hello"
        self.assertEqual(
            {key: value for key, value in item.items() if key not in ("created", "started", "finished")},
            {
                "@id": f"{self.site_url}/@async-processes/{own}",
                "process_id": own,
                "view": "hello",
                "context": self.site_url,
                "owner": TEST_USER_ID,
                "state": "done",
                "progress": True,
                "message": "",
                "title": "Hello",  # its view's name, made readable
                "scheduled_for": None,
                "priority": 0,
                "attempt": 1,
                "max_attempts": 1,
                "retry_of": None,
                "retried_by": None,
                "queue": None,
                "status_url": f"{view_url}/completed?process_id={own}&output_json=1",
                "result_url": f"{view_url}/result?process_id={own}",
            },
        )
        created, started, finished = (datetime.datetime.fromisoformat(item[key]) for key in ("created", "started", "finished"))
        self.assertEqual(created.utcoffset(), datetime.timedelta(0))
        self.assertLessEqual(created, started)
        self.assertLessEqual(started, finished)
        self.assertEqual(self.other.listed(), [others])
        self.assertEqual(self.member.listed("?owner=" + TEST_USER_ID), [own])  # their own id: allowed

    def test_a_manager_lists_all_and_filters_by_state_and_owner(self):
        done = self.run_job(self.member)
        running, _gate = self.running(self.other)
        answer = self.manager.processes()
        self.assertEqual([item["process_id"] for item in answer["items"]], [running, done])  # newest first
        self.assertEqual({item["owner"] for item in answer["items"]}, {TEST_USER_ID, OTHER_MEMBER_NAME})
        for item in answer["items"]:
            self.assertIn("instance", item)  # for managers only
            self.assertIn("error_detail", item)
        self.assertEqual(self.manager.listed("?state=done"), [done])
        self.assertEqual(self.manager.listed("?state=running"), [running])
        self.assertEqual(self.manager.listed("?state=failed"), [])
        self.assertEqual(self.manager.listed(f"?owner={OTHER_MEMBER_NAME}"), [running])
        self.assertEqual(self.manager.listed(f"?owner={TEST_USER_ID}&state=running"), [])
        self.assertEqual(self.manager.listed("?owner=nobody"), [])
        (item,) = self.member.processes()["items"]
        self.assertNotIn("instance", item)
        self.assertNotIn("error_detail", item)

    def test_batches(self):
        started = [self.member.start("hello") for _ in range(5)]
        for process_id in started:
            self.member.wait_for(process_id)
        first = self.member.processes("?b_size=2")
        self.assertEqual(first["items_total"], 5)
        self.assertEqual(len(first["items"]), 2)
        batching = first["batching"]
        self.assertEqual(batching["next"], f"{self.site_url}/@async-processes?b_start=2&b_size=2")
        self.assertNotIn("prev", batching)
        second = self.member.processes(batching["next"].partition("@async-processes")[2])
        self.assertEqual(second["batching"]["prev"], f"{self.site_url}/@async-processes?b_start=0&b_size=2")
        last = self.member.processes(batching["last"].partition("@async-processes")[2])
        self.assertNotIn("next", last["batching"])
        pages = [[item["process_id"] for item in page["items"]] for page in (first, second, last)]
        self.assertEqual(sum(pages, []), started[::-1])  # each once, newest first

    def test_fetched_results_are_neither_counted_nor_listed_and_batches_have_no_holes(self):
        started = [self.member.start("hello") for _ in range(4)]
        for process_id in started:
            self.member.wait_for(process_id)
        for process_id in started[1:3]:  # two shown once, the newest and the oldest waiting
            self.assertEqual(self.member.get(f"@@hello/result?process_id={process_id}", accept="text/html").status, 200)
        waiting = [started[3], started[0]]
        answer = self.member.processes()
        self.assertEqual(answer["items_total"], 2)
        self.assertEqual([item["process_id"] for item in answer["items"]], waiting)
        self.assertEqual(self.manager.processes()["items_total"], 2)
        self.assertEqual(self.manager.processes("?state=done")["items_total"], 2)
        first = self.member.processes("?b_size=1")
        self.assertEqual(first["items_total"], 2)
        second = self.member.processes(first["batching"]["next"].partition("@async-processes")[2])
        self.assertNotIn("next", second["batching"])
        self.assertEqual([item["process_id"] for page in (first, second) for item in page["items"]], waiting)

    def test_an_anonymous_caller_lists_its_own_browsers(self):
        self.run_job(self.member)
        anonymous = Client(self.site_url)
        self.assertEqual(anonymous.processes(), {"@id": f"{self.site_url}/@async-processes", "items_total": 0, "items": []})
        process_id = self.run_job(anonymous)  # its start sets the ownership cookie
        self.assertIsNotNone(anonymous.cookie)
        (item,) = anonymous.processes()["items"]
        self.assertEqual((item["process_id"], item["owner"]), (process_id, None))
        self.assertEqual(anonymous.process(process_id).json["state"], "done")
        self.assertEqual(Client(self.site_url).listed(), [])  # another browser: none of it
        self.assertEqual(Client(self.site_url).process(process_id).status, 404)
        self.assertIn(process_id, self.manager.listed())

    def test_an_unknown_state_or_a_bad_batch_is_a_bad_request(self):
        answer = self.member.get("@async-processes?state=sleeping")
        self.assertEqual(answer.status, 400)
        self.assertEqual(answer.headers["Content-Type"], "application/json")
        self.assertEqual(answer.json["error"]["type"], "BadRequest")
        self.assertIn("'sleeping'", answer.json["error"]["message"])
        documented = Path(__file__).resolve().parents[4] / "docs" / "restapi.rst"
        if documented.exists():  # a checkout: its example says it as it is (it had lost scheduled and timed_out)
            self.assertIn(f'"message": {json.dumps(answer.json["error"]["message"])}', documented.read_text())
        self.assertEqual(self.manager.get("@async-processes?state=sleeping").status, 400)
        for query in ("b_size=many", "b_size=-1", "b_start=-2", "b_start=1.5"):
            answer = self.member.get(f"@async-processes?{query}")
            self.assertEqual((answer.status, answer.json["error"]["type"]), (400, "BadRequest"), query)

    def test_a_member_may_not_list_another_owner(self):
        self.run_job(self.other)
        answer = self.member.get(f"@async-processes?owner={OTHER_MEMBER_NAME}")
        self.assertEqual(answer.status, 400)
        self.assertEqual(answer.json["error"]["type"], "BadRequest")
        self.assertEqual(Client(self.site_url).get(f"@async-processes?owner={OTHER_MEMBER_NAME}").status, 400)

    # One process.

    def test_get_own_process_then_its_result(self):
        process_id = self.member.start("steady", steps="2", delay="0")
        status = self.member.wait_for(process_id)
        view_url = f"{self.site_url}/@@steady"
        self.assertEqual(status["state"], "done")
        self.assertEqual((status["completed"], status["progress"]), (100, 100))
        self.assertEqual(status["message"], "Step 2 of 2")
        self.assertEqual(status["@id"], f"{self.site_url}/@async-processes/{process_id}")
        self.assertEqual((status["view"], status["context"], status["owner"]), ("steady", self.site_url, TEST_USER_ID))
        self.assertEqual(status["status_url"], f"{view_url}/completed?process_id={process_id}&output_json=1")
        self.assertEqual(status["result_url"], f"{view_url}/result?process_id={process_id}")
        self.assertIsNotNone(status["finished"])
        self.assertNotIn("instance", status)
        self.assertEqual(self.member.get(status["status_url"]).json["state"], "done")
        result = self.member.get(status["result_url"], accept="text/html")
        self.assertEqual(result.status, 200)
        self.assertIn("Done after 2 steps", result.text)
        self.assertEqual(self.member.process(process_id).status, 404)  # its result fetched: gone

    def test_another_ones_process_is_as_unknown_as_none(self):
        process_id = self.run_job(self.other)
        unknown = self.member.process(uuid.uuid4().hex)
        self.assertEqual(unknown.status, 404)
        self.assertEqual(unknown.headers["Content-Type"], "application/json")
        self.assertEqual(unknown.json["error"]["type"], "NotFound")
        for url in (
            f"@async-processes/{process_id}",
            "@async-processes/not-a-process-id",
            f"@async-processes/{process_id.upper()}",
            f"@async-processes/{process_id}/more",
        ):
            answer = self.member.get(url)
            self.assertEqual((answer.status, answer.json), (404, unknown.json), url)
        self.assertEqual(self.manager.process(process_id).json["state"], "done")  # a manager sees it

    def test_another_sites_process_is_unknown_here_even_to_its_owner(self):
        process_id = registry.new_process_id()
        record = registry.ProcessRecord(process_id, "hello", "/other/folder", TEST_USER_ID, site="/other")
        db = self.layer["app"]._p_jar.db()
        registry.in_own_transaction(db, lambda root: registry.add(root._p_jar, record, "elsewhere", 1))
        self.addCleanup(registry.in_own_transaction, db, lambda root: registry.remove(root, process_id))
        ours = self.run_job(self.member)
        self.assertEqual(self.member.listed(), [ours])
        self.assertEqual(self.manager.listed(), [ours])
        for client in (self.member, self.manager):
            self.assertEqual(client.process(process_id).status, 404)
            self.assertEqual(client.delete(f"@async-processes/{process_id}").status, 404)
        transaction.begin()
        self.assertEqual(registry.find(self.layer["app"]._p_jar, process_id).state, registry.QUEUED)  # unchanged

    def test_a_failure_is_detailed_to_managers_only(self):
        process_id = self.run_job(self.member, "fails")
        status = self.member.process(process_id).json
        self.assertEqual((status["state"], status["error"]), ("failed", "The process failed."))
        self.assertNotIn("error_detail", status)
        status = self.manager.process(process_id).json
        self.assertEqual(status["error"], "The process failed.")
        self.assertIn("the import file is broken", status["error_detail"])
        self.assertIn("instance", status)
        (item,) = [item for item in self.manager.processes()["items"] if item["process_id"] == process_id]
        self.assertEqual((item["state"], item["progress"]), ("failed", "ERROR"))
        self.assertIn("the import file is broken", item["error_detail"])

    def test_a_process_whose_context_is_gone(self):
        portal = self.layer["portal"]
        setRoles(portal, TEST_USER_ID, ["Manager"])
        portal.invokeFactory("Folder", "gone-soon")
        setRoles(portal, TEST_USER_ID, ["Member"])
        transaction.commit()
        process_id = self.run_job(self.member, "gone-soon/hello")
        transaction.begin()
        portal.manage_delObjects(["gone-soon"])
        transaction.commit()
        status = self.member.process(process_id).json  # said without the view
        self.assertEqual((status["state"], status["completed"]), ("done", True))
        self.assertEqual(status["context"], f"{self.site_url}/gone-soon")
        self.assertEqual(status["result_url"], f"{self.site_url}/gone-soon/@@hello/result?process_id={process_id}")

    # Cancel.

    def test_cancel_own_running_process(self):
        process_id, _gate = self.running(self.member, report="1")
        answer = self.member.delete(f"@async-processes/{process_id}")
        self.assertEqual(answer.status, 200)
        status = answer.json
        self.assertEqual(status["process_id"], process_id)
        # Read anew after the cancel: asked to stop, or stopped already.
        self.assertTrue(status["state"] == "cancelled" or status.get("cancelling"), status)
        self.assertEqual(self.member.wait_for(process_id)["state"], "cancelled")

    def test_cancel_own_queued_process(self):
        gate = self.gate()
        for _ in range(settings.get("pool-size")):  # the pool's threads are taken at the start, held
            self.member.start("gate", gate=gate)
        process_id = self.member.start("hello")
        self.assertEqual(self.member.process(process_id).json["state"], "queued")
        answer = self.member.delete(f"@async-processes/{process_id}")
        self.assertEqual((answer.status, answer.json["state"]), (200, "cancelled"))
        self.assertEqual(self.member.process(process_id).json["state"], "cancelled")
        again = self.member.delete(f"@async-processes/{process_id}")  # cancelled already: the same
        self.assertEqual((again.status, again.json["state"]), (200, "cancelled"))

    def test_only_the_owner_or_a_manager_may_cancel(self):
        process_id, gate = self.running(self.other)
        refused = self.member.delete(f"@async-processes/{process_id}")
        self.assertEqual(refused.status, 404)
        self.assertEqual(refused.json, self.member.process(uuid.uuid4().hex).json)
        self.assertEqual(Client(self.site_url).delete(f"@async-processes/{process_id}").status, 404)
        status = self.other.process(process_id).json
        self.assertEqual(status["state"], "running")
        self.assertNotIn("cancelling", status)  # nothing changed
        answer = self.manager.delete(f"@async-processes/{process_id}")
        self.assertEqual(answer.status, 200)
        self.assertEqual((answer.json["state"], answer.json["cancelling"]), ("running", True))
        self.assertTrue(self.other.process(process_id).json["cancelling"])
        GATES[gate].set()  # the gate job does not look: it ends done, unstopped
        self.other.wait_for(process_id)

    def test_an_ended_process_cannot_be_cancelled(self):
        process_id = self.run_job(self.member)
        answer = self.member.delete(f"@async-processes/{process_id}")
        self.assertEqual(answer.status, 409)
        self.assertEqual(answer.json["error"]["type"], "Conflict")
        self.assertEqual(answer.json["state"], "done")
        self.assertEqual(self.member.process(process_id).json["state"], "done")
        self.assertEqual(self.member.delete(f"@async-processes/{uuid.uuid4().hex}").status, 404)
        self.assertEqual(self.member.delete("@async-processes").status, 404)
