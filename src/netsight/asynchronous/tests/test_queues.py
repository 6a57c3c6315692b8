"""Named queues (issue 27, point 3): a view's ``queue``, the queues an instance serves, the page when none does."""

from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.app.testing import TEST_USER_ID
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD

from netsight.asynchronous import claims
from netsight.asynchronous import periodic
from netsight.asynchronous import queues
from netsight.asynchronous import registry
from netsight.asynchronous import storage
from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.limits import JobLimits
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.pool import Pool
from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import NETSIGHT_ASYNC_RESTAPI_TESTING
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.queue_views import RUNS
from ZODB.Connection import Connection

import lxml.html
import threading
import transaction
import unittest


class QueuesTestCase(JobTestCase):
    """As in an instance with a pool: the maintenance thread beats and claims; ``serve`` says which queues it serves."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.db = self.app._p_jar.db()
        # An instance publishes its queues where a registry exists (it makes none to say so).
        registry.in_own_transaction(self.db, lambda root: storage.made(root) and None)
        self.addCleanup(self.publish_every_queue)  # last: the next tests see an instance of every queue
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        MAINTENANCE.claimer = claims.claim_queued
        setting(self, "job-threads", 2)
        self.started = []
        self.addCleanup(self.cancel_left)

    def serve(self, text):
        """This instance serves the queues of ``text`` (the ``queues`` setting) from now on, and has said so
        (an instance of every queue, ``""``, says so at its next claim or while it has jobs)."""
        setting(self, "queues", text)
        expected = queues.served()
        MAINTENANCE.watch(self.db)  # it beats at once
        if expected is not None:
            expected = tuple(sorted(expected))
            wait_until(lambda: self.published() == expected, what=f"the heartbeat's queues {expected}")

    def published(self):
        transaction.begin()
        record = registry.instances(self.app._p_jar.root()).get(instance_id())
        return False if record is None else record.queues

    def publish_every_queue(self):
        registry.in_own_transaction(self.db, lambda root: registry.beat_in(root, instance_id(), queues=None))

    def start(self, view, **form):
        process_id = self.browser.start(self.url(view), **form)
        self.started.append((view, process_id))
        return process_id

    def cancel_left(self):
        for _view, process_id in self.started:
            registry.change(self.db, process_id, registry.ProcessRecord.request_cancel)

    def poll(self, view, process_id):
        return self.browser.poll(self.url(view), process_id)


class TestRouting(QueuesTestCase):

    def test_a_job_of_a_queue_the_instance_does_not_serve_waits_unclaimed_and_the_page_says_so(self):
        self.serve("default")
        process_id = self.start("export")
        record = self.fresh_record(process_id)
        self.assertEqual((record.state, record.instance, record.queue), ("queued", registry.UNCLAIMED, "exports"))
        answer = self.poll("export", process_id)
        self.assertEqual(answer["state"], "queued")
        self.assertEqual(answer["queue"], "exports")
        self.assertIs(answer["queue_served"], False)
        self.assertEqual(answer["progress_message"], "Waiting for a worker of 'exports'")
        self.browser.open(f"{self.url('export')}/processing?process_id={process_id}")
        status = page_part(self.browser.text, "status").text_content().strip()
        self.assertEqual(status, "Waiting for a worker of 'exports'")
        # The claims of this instance pass it by (twice the claim interval: it stays).
        self.assertEqual(claims.claim_queued(self.db), 0)
        self.assertEqual(self.fresh_record(process_id).state, "queued")
        self.assertNotIn(process_id, RUNS)
        # Once the instance serves "exports" too, it claims the job and runs it.
        self.serve("default exports")
        answer = self.browser.wait_for(self.url("export"), process_id)
        self.assertEqual(answer["state"], "done")
        self.assertEqual(answer["queue"], "exports")
        self.assertEqual(RUNS[process_id][0], "exports")

    def test_on_an_instance_serving_its_queue_it_runs_in_its_own_pool(self):
        self.serve("exports")
        process_id = self.start("export")
        answer = self.browser.wait_for(self.url("export"), process_id)
        self.assertEqual(answer["state"], "done")
        self.assertIs(answer["queue_served"], True)
        record = self.fresh_record(process_id)
        self.assertEqual(record.instance, instance_id())  # started here, never unclaimed
        self.assertEqual(self.browser.result(self.url("export"), process_id), f"Exported {process_id}")

    def test_an_idle_instance_of_every_queue_writes_nothing_one_of_some_queues_beats(self):
        self.serve("default")  # a first heartbeat, then every queue
        setting(self, "queues", "")
        beat = self.beat_time()
        self.assertFalse(MAINTENANCE.beat(self.db))  # idle, of every queue: nothing written
        self.assertEqual(self.beat_time(), beat)
        self.assertEqual(self.published(), ("default",))
        setting(self, "queues", "exports")
        self.assertFalse(MAINTENANCE.beat(self.db))  # idle, of some queues: it says which
        self.assertGreater(self.beat_time(), beat)
        self.assertEqual(self.published(), ("exports",))

    def beat_time(self):
        transaction.begin()
        return registry.instances(self.app._p_jar.root())[instance_id()].beat

    def test_every_queue_by_default_as_in_1x(self):
        self.serve("")
        self.assertIsNone(queues.served())
        for view in ("export", "report", "hello"):
            process_id = self.start(view)
            self.assertEqual(self.browser.wait_for(self.url(view), process_id)["state"], "done", view)
        answer = self.poll("hello", process_id)
        self.assertIsNone(answer["queue"])

    def test_the_default_queue_waits_on_an_instance_serving_only_exports(self):
        self.serve("exports")
        process_id = self.start("chosen-queue")  # no queue in the form: the default one
        answer = self.poll("chosen-queue", process_id)
        # No live instance serves the default queue (the heartbeats read at most once in 2 seconds, not at each poll).
        self.assertEqual((answer["state"], answer["queue"], answer["queue_served"]), ("queued", None, False))
        self.assertEqual(answer["progress_message"], "Waiting for a worker of the default queue")
        self.browser.open(f"{self.url('chosen-queue')}/processing?process_id={process_id}")
        status = page_part(self.browser.text, "status").text_content().strip()
        self.assertEqual(status, "Waiting for a worker of the default queue")
        exports = self.start("chosen-queue", queue="exports")
        self.assertEqual(self.browser.wait_for(self.url("chosen-queue"), exports)["state"], "done")
        self.assertEqual(self.poll("chosen-queue", process_id)["state"], "queued")
        self.serve("exports default")
        self.assertEqual(self.browser.wait_for(self.url("chosen-queue"), process_id)["state"], "done")

    def test_a_queue_named_default_is_the_default_queue(self):
        self.serve("default")
        process_id = self.start("chosen-queue", queue="default")
        self.assertIsNone(self.fresh_record(process_id).queue)
        self.assertEqual(self.browser.wait_for(self.url("chosen-queue"), process_id)["state"], "done")

    def test_a_dedicated_instance_whose_queues_are_all_bad_words_runs_no_job(self):
        with self.assertLogs("netsight.async", "ERROR"):
            setting(self, "queues", "exports:0")
            queues.parse.cache_clear()
            process_id = self.start("hello")
        record = self.fresh_record(process_id)
        self.assertEqual((record.state, record.instance), ("queued", registry.UNCLAIMED))  # not run here
        self.assertEqual(claims.claim_queued(self.db), 0)
        self.assertEqual(self.poll("hello", process_id)["state"], "queued")

    def test_a_queue_that_is_no_short_name_is_an_error_for_the_integrator(self):
        self.browser.post(self.url("bad-queue"), f"_authenticator={self.browser.token}")
        self.assertEqual(self.browser.status, 500)

    def test_a_queue_with_a_newline_after_its_name_is_an_error_for_the_integrator(self):
        self.browser.post(self.url("newline-queue"), f"_authenticator={self.browser.token}")
        self.assertEqual(self.browser.status, 500)  # refused, not started to wait for ever in a queue nobody serves
        self.assertFalse(queues.is_name("exports\n"))

    def test_in_german_and_italian(self):
        self.serve("default")
        process_id = self.start("export")
        self.browse_in("de")
        self.assertEqual(self.poll("export", process_id)["progress_message"], "Wartet auf einen Worker für „exports“")
        self.browser.addHeader("Accept-Language", "it")
        self.assertEqual(self.poll("export", process_id)["progress_message"], "In attesa di un worker per 'exports'")

    def test_the_default_queue_without_a_worker_in_german_and_italian(self):
        self.serve("exports")
        process_id = self.start("hello")
        self.browse_in("de")
        self.assertEqual(self.poll("hello", process_id)["progress_message"], "Wartet auf einen Worker für die Standard-Warteschlange")
        self.browser.addHeader("Accept-Language", "it")
        self.assertEqual(self.poll("hello", process_id)["progress_message"], "In attesa di un worker per la coda predefinita")


class TestDatabaseQueue(QueuesTestCase):
    """The jobs waiting in the database (a front-end's starts): each instance takes those of its queues only."""

    def setUp(self):
        super().setUp()
        MAINTENANCE.claimer = None  # nobody claims until the test says so

    def waiting(self, served):
        transaction.begin()
        return [record.process_id for record in registry.unclaimed(self.app._p_jar.root(), served)]

    def test_unclaimed_takes_the_queues_asked_for_by_rank(self):
        setting(self, "job-threads", 0)  # a front-end: every job waits in the database
        first = self.start("export")
        plain = self.start("hello")
        second = self.start("chosen-queue", queue="exports")  # priority 0, after the first
        report = self.start("report")
        mine = {first, plain, second, report}
        self.assertEqual([pid for pid in self.waiting(frozenset({"exports"})) if pid in mine], [first, second])
        self.assertEqual([pid for pid in self.waiting(frozenset({"default"})) if pid in mine], [plain])
        both = frozenset({"exports", "reports"})
        self.assertEqual([pid for pid in self.waiting(both) if pid in mine], [first, second, report])
        self.assertEqual([pid for pid in self.waiting(None) if pid in mine], [first, plain, second, report])
        # "N ahead" counts the jobs of its own queue.
        self.assertEqual(self.poll("report", report)["queue_position"], 0)
        self.assertEqual(self.poll("chosen-queue", second)["queue_position"], 1)

    def claim_two(self, prefetch):
        """Two jobs queued in the database, claimed while ``Connection.prefetch`` is ``prefetch``
        (called with the original and the objects asked for); each done. The oids of their stored requests."""
        setting(self, "job-threads", 0)
        started = [self.start("hello"), self.start("hello")]
        requests = {self.fresh_record(process_id).request._p_oid for process_id in started}  # gone once done
        setting(self, "job-threads", 2)
        original = Connection.prefetch
        Connection.prefetch = lambda connection, *args: prefetch(original, connection, *args)
        self.addCleanup(setattr, Connection, "prefetch", original)
        self.assertGreaterEqual(claims.claim_queued(self.db), 2)
        for process_id in started:
            self.assertEqual(self.browser.wait_for(self.url("hello"), process_id)["state"], "done")
        return requests

    def test_a_claim_asks_for_its_jobs_requests_at_once(self):
        """The stored requests of the jobs a claim takes are asked of the
        storage in one go (a ZEO client loads them in parallel, not one round
        trip after another), before each job is made."""
        asked = []

        def prefetch(original, connection, *args):
            asked.extend(obj._p_oid for obj in args[0])
            return original(connection, *args)

        requests = self.claim_two(prefetch)
        self.assertLessEqual(requests, set(asked))

    def test_a_storage_that_cannot_fetch_ahead_still_gives_the_jobs(self):
        def prefetch(original, connection, *args):
            raise OSError("no prefetch here")

        self.claim_two(prefetch)

    def test_a_claim_takes_only_the_served_queues_and_the_count_follows(self):
        setting(self, "job-threads", 0)
        root = self.app._p_jar.root()
        transaction.begin()
        before = registry.unclaimed_count(root)[0]
        export, report = self.start("export"), self.start("report")
        transaction.begin()
        self.assertEqual(registry.unclaimed_count(self.app._p_jar.root())[0], before + 2)
        setting(self, "job-threads", 2)
        setting(self, "queues", "reports")
        self.assertEqual(claims.claim_queued(self.db), 1)
        self.assertEqual(self.browser.wait_for(self.url("report"), report)["state"], "done")
        self.assertEqual(self.fresh_record(export).instance, registry.UNCLAIMED)
        transaction.begin()
        self.assertEqual(registry.unclaimed_count(self.app._p_jar.root())[0], before + 1)
        registry.change(self.db, export, registry.ProcessRecord.request_cancel)
        transaction.begin()
        root = self.app._p_jar.root()
        self.assertEqual(registry.unclaimed_count(root)[0], before)
        self.assertEqual(len(registry.stored(root).routed), 0)

    def test_an_instance_of_some_queues_takes_ahead_only_while_many_of_theirs_wait(self):
        setting(self, "job-threads", 0)
        plain = [self.start("hello") for _ in range(12)]  # more than it would take, of another queue
        reports = [self.start("report") for _ in range(2)]
        setting(self, "job-threads", 1)
        setting(self, "queues", "reports")
        self.assertEqual(claims.claim_queued(self.db), 1)  # few of its queue wait: what it can start now, no more
        transaction.begin()
        self.assertEqual(self.waiting(frozenset({"reports"})), reports[1:])
        self.assertEqual(len([pid for pid in self.waiting(frozenset({"default"})) if pid in plain]), 12)

    def test_queue_limit_counts_the_waiting_jobs_of_the_starts_own_queue(self):
        setting(self, "job-threads", 0)  # a front-end; no instance serves "exports"
        before = self.waiting_count(None)
        setting(self, "queue-limit", before + 2)  # (the layer's database keeps the default jobs of the tests before)
        self.start("export")
        self.start("export")
        self.assertEqual(self.try_start("export"), 503)  # its own queue is full
        plain = self.start("hello")  # the backlog of "exports" blocks no other queue
        report = self.start("report")
        self.assertEqual((self.waiting_count(None), self.waiting_count("exports"), self.waiting_count("reports")), (before + 1, 2, 1))
        self.start("hello")
        self.assertEqual(self.try_start("hello"), 503)
        self.assertTrue(plain and report)

    def test_anonymous_queue_limit_counts_the_waiting_anonymous_jobs_of_the_starts_own_queue(self):
        from netsight.asynchronous.tests.test_anonymous import Visitor

        setting(self, "job-threads", 0)
        setting(self, "queue-limit", 0)
        setting(self, "max-per-address", 0)
        setting(self, "anonymous-queue-limit", 2)
        answers = [Visitor(self.app, self.site_url, f"192.0.2.{n}").try_start(self.url("export")) for n in range(1, 4)]
        self.started += [("export", pid) for _status, pid in answers if pid]
        self.assertEqual([status for status, _pid in answers], [303, 303, 503])
        other = [Visitor(self.app, self.site_url, "192.0.2.9").try_start(self.url(view)) for view in ("report", "hello")]
        self.started += [("view", pid) for _status, pid in other if pid]
        self.assertEqual([status for status, _pid in other], [303, 303])

    def try_start(self, view):
        self.browser.post(self.url(view), f"_authenticator={self.browser.token}")
        if self.browser.status == 503:
            self.assertEqual(self.browser.headers["Retry-After"], "30")
        return self.browser.status

    def waiting_count(self, queue):
        transaction.begin()
        return registry.waiting_in(self.app._p_jar.root(), queue)

    def test_a_store_of_before_queues_gets_its_tree(self):
        setting(self, "job-threads", 0)
        self.start("hello")
        transaction.begin()
        root = self.app._p_jar.root()
        del registry.stored(root).routed  # a store of before queues
        del registry.stored(root).routed_count
        transaction.commit()
        registry.in_own_transaction(self.db, registry.prepare)
        transaction.begin()
        self.assertEqual(len(registry.stored(self.app._p_jar.root()).routed), 0)
        self.assertEqual(registry.stored(self.app._p_jar.root()).routed_count(), 0)
        export = self.start("export")
        self.assertEqual(self.waiting(frozenset({"exports"})), [export])


class HeldJob:
    def __init__(self, name, queue):
        self.process_id = name
        self.limits = JobLimits("someone", "", queue=queue)
        self.gate = threading.Event()
        self.ran = threading.Event()

    def run(self):
        self.ran.set()
        self.gate.wait(60)

    def discard(self, error=None):
        pass


class TestQueueThreads(unittest.TestCase):
    """``queues exports:1``: at most one job of "exports" runs at once; the others' jobs go ahead."""

    def setUp(self):
        setting(self, "job-threads", 3)
        setting(self, "max-per-user", 0)
        setting(self, "queues", "default exports:1")

    def test_a_queue_runs_at_most_its_threads(self):
        pool = Pool()
        jobs = [HeldJob("e1", "exports"), HeldJob("e2", "exports"), HeldJob("d1", None)]
        self.addCleanup(lambda: [job.gate.set() for job in jobs])
        for job in jobs:
            pool.submit(job)
        wait_until(lambda: jobs[0].ran.is_set() and jobs[2].ran.is_set(), what="e1 and d1")
        self.assertFalse(jobs[1].ran.is_set())
        self.assertEqual(pool.counts()[:2], (2, 1))
        self.assertFalse(pool.admits(JobLimits("other", "", queue="exports")))
        self.assertTrue(pool.admits(JobLimits("other", "")))
        jobs[0].gate.set()
        wait_until(jobs[1].ran.is_set, what="e2, once e1 ended")
        jobs[1].gate.set()
        jobs[2].gate.set()
        wait_until(lambda: pool.counts() == (0, 0, 0), what="an idle pool")

    def test_a_superscript_cap_is_left_out_not_raised_at_each_claim(self):
        setting(self, "queues", "default exports:\u00b2")
        queues.parse.cache_clear()  # (an earlier run parsed it: logged then)
        with self.assertLogs("netsight.async", "WARNING"):
            self.assertEqual(queues.served(), frozenset({"default"}))
        self.assertTrue(queues.serves(None))
        self.assertFalse(queues.serves("exports"))
        self.assertIsNone(queues.cap_of("exports"))
        self.assertTrue(Pool().admits(JobLimits("other", "")))

    def test_a_setting_of_only_bad_words_serves_no_queue_not_every_one(self):
        for text in ("exports:0", "exports:x", "exports/big", "exports:0 reports/big"):
            setting(self, "queues", text)
            queues.parse.cache_clear()
            with self.assertLogs("netsight.async", "ERROR") as logged:
                self.assertEqual(queues.served(), frozenset(), text)
            self.assertIn("serves no queue", "\n".join(logged.output))
            self.assertFalse(queues.serves(None), text)
            self.assertFalse(queues.serves("exports"), text)
        self.assertEqual(queues.parse(" "), (None, {}))  # empty: every queue, as before

    def test_the_setting_parses(self):
        self.assertEqual(queues.parse("default exports:2, reports"), (frozenset({"default", "exports", "reports"}), {"exports": 2}))
        self.assertEqual(queues.parse(""), (None, {}))
        queues.parse.cache_clear()
        with self.assertLogs("netsight.async", "WARNING"):
            self.assertEqual(queues.parse("ok bad:x"), (frozenset({"ok"}), {}))
        with self.assertLogs("netsight.async", "WARNING") as logged:  # a digit that is no number: a bad word too
            self.assertEqual(queues.parse("ok exports:\u00b2 reports:\u0663"), (frozenset({"ok"}), {}))
        self.assertEqual(len(logged.output), 2, logged.output)
        self.assertEqual(queues.cap_of("exports"), 1)
        self.assertIsNone(queues.cap_of(None))
        self.assertTrue(queues.serves(None))
        self.assertFalse(queues.serves("reports"))


class TestLists(QueuesTestCase):
    """The control panel says which instance serves what and which queues wait unserved; the Managers' list filters by queue."""

    def setUp(self):
        super().setUp()
        self.manager = owner_browser(self.app, self.site_url)

    def test_the_control_panel_lists_the_served_queues_and_the_unserved_ones(self):
        self.serve("default reports")
        exports = [self.start("export"), self.start("export")]
        self.manager.open(f"{self.site_url}/@@netsight-async-controlpanel")
        section = page_section(self.manager.text, "queues")
        (row,) = [row for row in section.xpath(".//tr") if row.xpath("th/code")[0].text == instance_id()]
        self.assertEqual([code.text for code in row.xpath("td/code")], ["default", "reports"])
        (alert,) = section.xpath(".//div[contains(@class, 'alert')]")
        self.assertIn("no live instance serves", alert.text_content())
        self.assertEqual([" ".join(li.text_content().split()) for li in alert.xpath(".//li")], ["exports: 2 waiting"])
        self.serve("")  # every queue: nothing waits unserved (the jobs run; its claim said so)
        for process_id in exports:
            self.assertEqual(self.browser.wait_for(self.url("export"), process_id)["state"], "done")
        self.manager.open(f"{self.site_url}/@@netsight-async-controlpanel")
        section = page_section(self.manager.text, "queues")
        (row,) = [row for row in section.xpath(".//tr") if row.xpath("th/code")[0].text == instance_id()]
        self.assertEqual(" ".join(row.xpath("td")[0].text_content().split()), "every queue")
        self.assertEqual(section.xpath(".//div[contains(@class, 'alert')]"), [])

    def test_the_control_panel_shows_the_instance_that_answers_without_its_heartbeat(self):
        # An idle instance of every queue writes no heartbeat: the page said "No live instance
        # has said which queues it serves." while the instance showing it served every queue.
        self.serve("")
        transaction.begin()
        instances = registry.index(self.app._p_jar.root(), registry.INSTANCES_KEY)
        if instances is not None and instance_id() in instances:
            del instances[instance_id()]
        transaction.commit()
        self.manager.open(f"{self.site_url}/@@netsight-async-controlpanel")
        section = page_section(self.manager.text, "queues")
        (row,) = [row for row in section.xpath(".//tr") if row.xpath("th/code")[0].text == instance_id()]
        self.assertEqual(" ".join(row.xpath("th")[0].text_content().split()), f"{instance_id()} (this instance)")
        self.assertEqual(" ".join(row.xpath("td")[0].text_content().split()), "every queue")
        self.assertNotIn("No live instance", section.text_content())
        self.assertIn("an idle one is missing here", " ".join(section.text_content().split()))

    def test_the_managers_list_filters_by_queue_and_state(self):
        self.serve("default")
        waiting = self.start("export")
        done_report = self.start("chosen-queue", queue="reports")
        plain = self.start("hello")
        self.serve("default reports")
        self.assertEqual(self.browser.wait_for(self.url("chosen-queue"), done_report)["state"], "done")
        self.assertEqual(self.browser.wait_for(self.url("hello"), plain)["state"], "done")

        def listed(query):
            self.manager.open(f"{self.site_url}/@@netsight-async-processes?{query}")
            rows = lxml.html.fromstring(self.manager.text).xpath("//tr[@data-process-id]")
            return {row.get("data-process-id"): row for row in rows}

        rows = listed("queue=exports&state=queued")  # (the layer's database keeps the processes of the tests before)
        self.assertEqual(list(rows), [waiting])
        self.assertEqual(rows[waiting].get("data-queue"), "exports")
        self.assertIn("queue exports", " ".join(rows[waiting].text_content().split()))
        exports = listed("queue=exports")
        self.assertIn(waiting, exports)
        self.assertEqual({row.get("data-queue") for row in exports.values()}, {"exports"})
        reports = listed("queue=reports&state=done")
        self.assertIn(done_report, reports)
        self.assertNotIn(plain, reports)
        self.assertEqual(list(listed("queue=reports&state=queued")), [])
        default = listed("queue=default")
        self.assertIn(plain, default)
        self.assertNotIn(waiting, default)
        self.assertIsNone(default[plain].get("data-queue"))
        everything = listed("")
        self.assertTrue({waiting, done_report, plain} <= set(everything))
        # The filter is kept in the page's links and forms.
        self.manager.open(f"{self.site_url}/@@netsight-async-processes?queue=exports")
        page = lxml.html.fromstring(self.manager.text)
        self.assertEqual(page.xpath("//input[@id='netsight-async-queue']/@value"), ["exports"])
        self.assertEqual(set(page.xpath("//form[@method='post']//input[@name='queue']/@value")), {"exports"})  # the actions' redirect


def page_section(html, name):
    (section,) = lxml.html.fromstring(html).xpath(f"//section[contains(@class, 'netsight-async-{name}')]")
    return section


class TestRest(unittest.TestCase):
    """``@async-processes``: each item's queue, and the ``queue`` filter."""

    layer = NETSIGHT_ASYNC_RESTAPI_TESTING

    def setUp(self):
        from netsight.asynchronous.tests.test_restapi import Client

        self.addCleanup(join_workers)
        self.site_url = f"{chromium_server_url(self.layer)}/{self.layer['portal'].getId()}"
        self.member = Client(self.site_url, TEST_USER_NAME, TEST_USER_PASSWORD)
        self.manager = Client(self.site_url, SITE_OWNER_NAME, SITE_OWNER_PASSWORD)

    def test_the_queue_in_each_item_and_its_filter(self):
        export = self.member.start("export")
        plain = self.member.start("hello")
        for pid in (export, plain):
            self.member.wait_for(pid)
        (item,) = [item for item in self.member.processes("?queue=exports")["items"]]
        self.assertEqual((item["process_id"], item["queue"]), (export, "exports"))
        default = self.member.processes("?queue=default")["items"]
        self.assertIn(plain, [item["process_id"] for item in default])
        self.assertEqual({item["queue"] for item in default}, {None})
        self.assertIn(export, self.manager.listed("?queue=exports&state=done"))
        self.assertEqual(self.manager.listed("?queue=exports&state=failed"), [])
        self.assertEqual(self.member.get("@async-processes?queue=no%20name").status, 400)
        self.assertEqual(self.member.get("@async-processes?queue=exports%0A").status, 400)
        status = self.member.process(export).json
        self.assertEqual((status["queue"], status["queue_served"]), ("exports", True))


class TestPeriodic(QueuesTestCase):
    """A periodic job of a view whose class names a queue waits in that queue."""

    def setUp(self):
        super().setUp()
        self.addCleanup(periodic.clear)
        MAINTENANCE.claimer = None  # no periodic start of the maintenance thread

    def test_a_periodic_job_of_a_view_with_a_queue_is_in_that_queue(self):
        site = "/".join(self.portal.getPhysicalPath())
        periodic.register(periodic.Schedule(view="export", context=site, user=TEST_USER_ID, every=60.0))
        periodic.register(periodic.Schedule(view="chosen-queue", context=site, user=TEST_USER_ID, every=60.0))
        started = periodic.start_due(self.db, now=60.0 * 2_000_000 + 5)
        self.started += [("export", pid) for pid in started]
        self.assertEqual(sorted(self.fresh_record(pid).queue or "" for pid in started), ["", "exports"])  # a method: default
        self.assertEqual([pid for pid in started if self.fresh_record(pid).queue], self.waiting_routed())

    def test_a_periodic_job_of_a_view_whose_queue_is_no_name_is_logged_once_and_waits_in_the_default_queue(self):
        periodic._BAD_QUEUES.discard("newline-queue")  # (said once per process: an earlier run said it)
        site = "/".join(self.portal.getPhysicalPath())
        periodic.register(periodic.Schedule(view="newline-queue", context=site, user=TEST_USER_ID, every=60.0))
        with self.assertLogs("netsight.async", "ERROR") as logged:
            started = periodic.start_due(self.db, now=60.0 * 2_000_000 + 5)
        self.started += [("newline-queue", pid) for pid in started]
        self.assertEqual([self.fresh_record(pid).queue for pid in started], [None])
        self.assertIn("'exports\\n' is no short name", "\n".join(logged.output))
        with self.assertNoLogs("netsight.async", "ERROR"):  # once
            self.assertIsNone(periodic._queue_of_view(self.portal, "newline-queue"))

    def waiting_routed(self):
        transaction.begin()
        return [record.process_id for record in registry.unclaimed(self.app._p_jar.root(), frozenset({"exports"}))]
