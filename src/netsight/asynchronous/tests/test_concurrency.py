"""Twenty processes started at once all complete, each with its own result; forty started at once need no retry; starts that wait together are added together."""

from netsight.asynchronous import internals
from netsight.asynchronous import registry
from netsight.asynchronous import startcommit
from netsight.asynchronous import transactions
from netsight.asynchronous.listing import Listing
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import DEADLINE
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until
from unittest import mock
from ZODB.POSException import StorageError

import json
import threading
import urllib.parse


def post_echo(browser, url, number, token):
    """POST a start of the ``echo`` view at ``url`` with ``number``: ``(status, process id or None)``."""
    browser.post(url, urllib.parse.urlencode({"number": str(number), "_authenticator": token}))
    location = browser.headers.get("Location", "")
    return browser.status, urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("process_id", [None])[0]


class TestManyAtOnce(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def at_once(self, count, start):
        """``start(number, browser)`` in ``count`` threads, each with a browser of its own, released together."""
        barrier = threading.Barrier(count)

        def run(number):
            browser = JobBrowser(self.app, self.site_url)
            barrier.wait()
            start(number, browser)

        threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def test_twenty_processes_started_at_once(self):
        count = 20
        url = self.url("echo")
        token = self.browser.token
        started = {}

        def start(number, browser):
            started[number] = (browser, browser.start(url, number=str(number), _authenticator=token))

        self.at_once(count, start)
        self.assertEqual(len(started), count)
        self.assertEqual(len({process_id for browser, process_id in started.values()}), count)
        for number, (browser, process_id) in started.items():
            self.assertEqual(browser.wait_for(url, process_id)["completed"], True)
            seen = json.loads(browser.result(url, process_id))
            self.assertEqual(seen["kwargs"]["number"], str(number))
            self.assertEqual(seen["process_id"], process_id)
        self.fresh_record("0" * 32)  # a new transaction
        # Each result shown once is gone; its record stays only to tell its owner so, in no list or count.
        records = self.app._p_jar.root()[registry.ROOT_KEY]
        self.assertEqual(sorted(records), sorted(process_id for _browser, process_id in started.values()))
        self.assertEqual([pid for pid, record in records.items() if record.result is not None], [])
        site = "/".join(self.portal.getPhysicalPath())
        self.assertEqual(len(Listing(self.app._p_jar, site)), 0)
        self.assertEqual(registry.count(self.app._p_jar.root(), site, registry.DONE), 0)
        self.browser.open(f"{self.site_url}/@@my-processes")
        self.assertNotIn("data-process-id", self.browser.text)

    def test_forty_starts_at_once_all_start_without_a_retry(self):
        # Each start adds to the last buckets of the same trees (the records,
        # the owner's list, the active jobs): in the request's transaction,
        # starts that overlap one that splits a bucket conflict, and Zope
        # retries the request (3 times in an instance, then a 500). Added
        # after the commit, one at a time (startcommit.py), none conflicts:
        # with no retry at all, each answers its 303 and its record is there.
        count = 40
        # More than queue-limit (20) may wait at once while the pool's threads
        # take their turn to write: the cap's 503 is not what this test is about.
        setting(self, "queue-limit", 0)
        url = self.url("echo")
        token = self.browser.token
        answers = {}

        def start(number, browser):
            answers[number] = (browser, *post_echo(browser, url, number, token))

        retries = internals.set_conflict_retries(0)
        self.addCleanup(internals.set_conflict_retries, retries)
        self.at_once(count, start)
        self.assertEqual(sorted(status for _browser, status, _pid in answers.values()), [303] * count)
        started = {number: process_id for number, (_browser, _status, process_id) in answers.items()}
        self.fresh_record("0" * 32)  # a new transaction
        self.assertEqual(sorted(self.app._p_jar.root()[registry.ROOT_KEY]), sorted(started.values()))
        for number, process_id in started.items():
            browser = answers[number][0]
            self.assertEqual(browser.wait_for(url, process_id)["completed"], True)
            self.assertEqual(json.loads(browser.result(url, process_id))["kwargs"]["number"], str(number))


class TestStartsAddedTogether(JobTestCase):
    """The starts whose records wait for their turn at the same moment are added in one transaction (startcommit.py)."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING
    COUNT = 5

    def starts_waiting_together(self):
        """``COUNT`` starts whose requests committed while ``WRITER`` was held: ``{number: (browser, status, process id)}``."""
        url, token, answers = self.url("echo"), self.browser.token, {}

        def start(number):
            browser = JobBrowser(self.app, self.site_url)
            answers[number] = (browser, *post_echo(browser, url, number, token))

        threads = [threading.Thread(target=start, args=(number,)) for number in range(self.COUNT)]
        with transactions.WRITER:  # each request commits, then its record waits for its turn
            for thread in threads:
                thread.start()
            wait_until(lambda: transactions.waiting() == self.COUNT, what="every start's record waiting for its turn")
        for thread in threads:
            thread.join(DEADLINE)
        return answers

    def test_they_commit_once_for_all(self):
        answers = self.starts_waiting_together()
        self.assertEqual([status for _browser, status, _pid in answers.values()], [303] * self.COUNT)
        self.fresh_record("0" * 32)  # a new transaction
        records = [registry.find(self.app._p_jar, pid) for _browser, _status, pid in answers.values()]
        self.assertNotIn(None, records)
        self.assertEqual(len({record._p_serial for record in records}), 1)  # one transaction added them all
        for number, (browser, _status, process_id) in answers.items():
            self.assertEqual(browser.wait_for(self.url("echo"), process_id)["completed"], True)
            self.assertEqual(json.loads(browser.result(self.url("echo"), process_id))["kwargs"]["number"], str(number))

    def test_one_start_that_cannot_be_added_fails_alone(self):
        # One start's record meets a storage error (a fault put at that seam,
        # for that start only): its group's transaction fails, and each start
        # is added again alone: that one answers 503, the others start.
        add, doomed = startcommit._add, []

        def add_unless_doomed(root, template, *args):
            doomed[:] = doomed or [template.process_id]
            if template.process_id == doomed[0]:
                raise StorageError("No space left on device")
            return add(root, template, *args)

        patcher = mock.patch.object(startcommit, "_add", side_effect=add_unless_doomed)
        patcher.start()
        self.addCleanup(patcher.stop)
        with self.assertLogs("netsight.async", "ERROR") as logged:
            answers = self.starts_waiting_together()
        self.assertEqual(sorted(status for _browser, status, _pid in answers.values()), [303] * (self.COUNT - 1) + [503])
        self.assertEqual(len(logged.output), 1)
        self.assertIn(doomed[0], logged.output[0])
        self.fresh_record("0" * 32)
        for _browser, status, process_id in answers.values():
            if status == 303:
                self.assertIsNotNone(registry.find(self.app._p_jar, process_id))
        self.assertIsNone(registry.find(self.app._p_jar, doomed[0]))
