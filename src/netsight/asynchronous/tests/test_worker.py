"""The job runs as if it were ``__call__`` of the same view on the same request."""

from collections import Counter
from netsight.asynchronous.pool import THREAD_PREFIX
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.worker import ATTEMPT_KEY
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import TEST_USER_ID
from ZODB.Connection import Connection
from zope.component import adapter
from zope.component import getGlobalSiteManager
from zope.component import provideHandler
from ZPublisher.interfaces import IPubSuccess

import json
import threading
import transaction


class TestWhatTheJobSees(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def echo(self, browser=None, **form):
        browser = browser or self.browser
        url = self.url("echo")
        process_id = browser.start(url, **form)
        self.assertEqual(browser.wait_for(url, process_id)["completed"], True)
        seen = json.loads(browser.result(url, process_id))
        self.assertEqual(seen["process_id"], process_id)
        return seen

    def test_the_same_user_and_roles(self):
        seen = self.echo()
        self.assertEqual(seen["user"], TEST_USER_ID)
        self.assertEqual(seen["roles"], ["Authenticated", "Member"])
        seen = self.echo(owner_browser(self.app, self.site_url))
        self.assertEqual(seen["user"], SITE_OWNER_NAME)
        self.assertIn("Manager", seen["roles"])

    def test_the_same_form_mapped_onto_run_by_name(self):
        seen = self.echo(title="Grüße", **{"tags:list": ["a", "b"], "count:int": "3"})
        self.assertEqual(seen["method"], "POST")
        self.assertEqual(seen["kwargs"]["title"], "Grüße")
        self.assertEqual(seen["kwargs"]["tags"], ["a", "b"])
        self.assertEqual(seen["kwargs"]["count"], 3)
        self.assertEqual(seen["form"]["title"], "Grüße")
        # process_id is an argument, not a form value
        self.assertNotIn("process_id", seen["form"])

    def test_named_arguments_come_from_the_form(self):
        url, process_id, answer = self.run_job("arguments", number="7", kind="fancy")
        self.assertEqual(
            json.loads(self.browser.result(url, process_id)),
            {"process_id": process_id, "number": "7", "kind": "fancy"},
        )
        url, process_id, answer = self.run_job("arguments", **{"number:int": "8"})
        self.assertEqual(
            json.loads(self.browser.result(url, process_id)),
            {"process_id": process_id, "number": 8, "kind": "plain"},
        )

    def test_the_same_body(self):
        url = self.url("echo")
        self.browser.addHeader("X-CSRF-TOKEN", self.browser.token)
        self.browser.post(url, '{"rows": [1, 2]}', "application/json")
        self.assertEqual(self.browser.status, 303)
        process_id = self.browser.headers["Location"].rsplit("=", 1)[1]
        self.browser.wait_for(url, process_id)
        seen = json.loads(self.browser.result(url, process_id))
        self.assertEqual(json.loads(seen["body"]), {"rows": [1, 2]})

    def test_the_same_context_site_and_browser_layers(self):
        seen = self.echo()
        self.assertEqual(seen["context"], "/plone")
        self.assertEqual(seen["site"], "/plone")
        # the add-on's layer (installed by its profile) and Plone's theme layer
        self.assertIn("netsight.asynchronous.interfaces.INetsightAsyncLayer", seen["layers"])
        self.assertIn("plone.app.z3cform.interfaces.IPloneFormLayer", seen["layers"])

    def test_the_same_language(self):
        self.browse_in("de")
        self.assertEqual(self.echo()["language"], "Wird verarbeitet...")

    def test_zope_globalrequest_is_the_jobs_request(self):
        self.assertTrue(self.echo()["globalrequest"])

    def test_a_daemon_thread_named_after_the_process(self):
        seen = self.echo()
        self.assertEqual(seen["thread"], f"netsight.async-{seen['process_id']}")
        self.assertTrue(seen["daemon"])
        self.assertFalse(seen["main_thread"])


class TestTheJobsCatchUps(JobTestCase):
    """How often a job's publication has its connection catch up with the
    storage (ZODB's ``newTransaction``: on RelStorage, each is a rollback, a
    BEGIN and a query to PostgreSQL): as it opens, at the publisher's begin,
    after its commit; no transaction begun only to be aborted once the
    publisher has committed."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_three_a_publication(self):
        counted = Counter()
        catch_up = Connection.newTransaction

        def counting(connection, txn, sync=True):
            if connection.transaction_manager is transaction.manager.manager:  # the thread's: not a short transaction's
                counted[threading.current_thread().name] += 1
            return catch_up(connection, txn, sync)

        Connection.newTransaction = counting
        self.addCleanup(setattr, Connection, "newTransaction", catch_up)
        url, process_id, answer = self.run_job("hello")
        self.assertEqual(answer["state"], "done")
        self.assertEqual(counted[f"{THREAD_PREFIX}{process_id}"], 3)


class TestWrittenAfterTheCommit(JobTestCase):
    """A subscriber of the publication's success (``IPubSuccess``) that writes
    after the publisher's commit, as Plone's scales generated on save may:
    the job is done, and the thread's next job runs."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_the_job_is_done(self):
        written = []

        @adapter(IPubSuccess)
        def write_after_the_commit(event):
            if event.request.get("write_after_commit") and ATTEMPT_KEY in event.request.environ:  # the job's
                app = event.request["PARENTS"][-1]
                app._p_jar.root()["netsight.async.tests.written"] = written.append(1) or len(written)

        provideHandler(write_after_the_commit)
        self.addCleanup(getGlobalSiteManager().unregisterHandler, write_after_the_commit)
        url, process_id, answer = self.run_job("hello", write_after_commit="1")
        self.assertEqual(answer["state"], "done")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")
        self.assertEqual(written, [1])
        self.assertEqual(self.run_job("hello")[2]["state"], "done")
