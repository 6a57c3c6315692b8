"""No shared cache keeps an answer of the status pages, nor (unless the view says so) a replayed result."""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobTestCase

from urllib.parse import urlencode


NOT_SHARED = "private, no-store"
UNKNOWN = "0" * 32


class TestStatusAnswers(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def assert_not_shared(self, url, status, data=None):
        if data is None:
            self.browser.open(url)
        else:
            self.browser.post(url, urlencode(data))
        self.assertEqual(self.browser.status, status, url)
        self.assertEqual(self.browser.headers.get("Cache-Control"), NOT_SHARED, (url, status))

    def test_every_answer_of_every_page_is_private_and_not_stored(self):
        job = HeldJob(self, 30)
        self.assertEqual(job.reached(), "30")
        running = f"?process_id={job.process_id}"
        for page, status in (
            ("processing", 200),
            ("completed", 200),
            ("completed?output_json=1&", 200),
            ("result", 204),
            ("result?output_json=1&", 200),
            ("cancel", 405),
        ):
            query = running if not page.endswith("&") else running.replace("?", "")
            self.assert_not_shared(f"{job.url}/{page}{query}", status)
        for page in ("processing", "completed", "result", "completed?output_json=1"):
            self.assert_not_shared(self.url(f"hello/{page}"), 400)  # no process_id
        for page in ("processing", "completed", "result", "cancel"):
            self.assert_not_shared(self.url(f"hello/{page}?process_id={UNKNOWN}"), 405 if page == "cancel" else 404)
        self.assertEqual(self.browser.head(self.url(f"hello/result?process_id={UNKNOWN}")).headers["Cache-Control"], NOT_SHARED)
        token = self.browser.token
        self.assert_not_shared(
            f"{job.url}/cancel", 200, {"process_id": job.process_id, "output_json": "1", "_authenticator": token}
        )
        self.assert_not_shared(f"{job.url}/cancel", 303, {"process_id": job.process_id, "_authenticator": token})
        self.assert_not_shared(f"{job.url}/cancel", 404, {"process_id": UNKNOWN, "_authenticator": token})
        # asked to stop, the held job ends at its next report or its end: its cleanup waits for it

    def test_a_done_process_and_a_failed_one(self):
        url, process_id, answer = self.run_job("hello")
        self.assert_not_shared(f"{url}/processing?process_id={process_id}", 302)  # to its result
        self.assert_not_shared(f"{url}/completed?process_id={process_id}", 200)
        self.assertEqual(self.browser.text, "true")
        failed_url, failed, answer = self.run_job("fails")
        for page in ("processing", "completed", "result"):
            self.assert_not_shared(f"{failed_url}/{page}?process_id={failed}", 500)


class TestTheLists(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_my_processes_and_all_processes(self):
        from netsight.asynchronous.tests.helpers.base import owner_browser

        self.run_job("hello")
        self.browser.open(self.url("@@my-processes"))
        self.assertEqual((self.browser.status, self.browser.headers["Cache-Control"]), (200, NOT_SHARED))
        manager = owner_browser(self.app, self.site_url)
        manager.open(self.url("@@netsight-async-processes"))
        self.assertEqual((manager.status, manager.headers["Cache-Control"]), (200, NOT_SHARED))


class TestReplayedResults(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def replayed(self, view, **form):
        """Cache-Control and Vary of the result, by HEAD and by GET (which takes it)."""
        url, process_id, answer = self.run_job(view, **form)
        self.assertEqual(answer["state"], registry.DONE, answer)
        head = self.browser.head(f"{url}/result?process_id={process_id}")
        self.assertEqual(self.browser.result(url, process_id), "headers")
        got = (self.browser.headers.get("Cache-Control"), self.browser.headers.get("Vary"))
        self.assertEqual((head.headers.get("Cache-Control"), head.headers.get("Vary")), got)
        return got

    def test_a_result_is_for_its_owner_whatever_its_job_said(self):
        owner_only = "Cookie, Authorization"
        for cache, vary, expected in (
            ("", "", (NOT_SHARED, owner_only)),
            ("public, max-age=3600", "", ("private, max-age=3600", owner_only)),
            ("max-age=60, s-maxage=600, proxy-revalidate", "", ("private, max-age=60", owner_only)),
            ('private="Set-Cookie", max-age=5', "", ("private, max-age=5", owner_only)),
            ("no-cache", "Accept-Encoding", ("private, no-cache", f"Accept-Encoding, {owner_only}")),
            ("private, max-age=10", "Cookie", ("private, max-age=10", "Cookie, Authorization")),
        ):
            with self.subTest(cache=cache, vary=vary):
                self.assertEqual(self.replayed("server-headers", cache=cache, vary=vary), expected)

    def test_other_methods_leave_the_result_in_place(self):
        """OPTIONS, PUT, DELETE, PROPFIND: a 405 that says what reads a result; the GET then gets it."""
        url, process_id, answer = self.run_job("server-headers", cache="", vary="")
        self.assertEqual(answer["state"], registry.DONE, answer)
        for method in ("OPTIONS", "PUT", "DELETE", "PROPFIND"):
            with self.subTest(method=method):
                answer = self.browser.testapp.request(
                    f"{url}/result?process_id={process_id}", method=method, headers=self.browser._req_headers, expect_errors=True
                )
                self.assertEqual(answer.status_int, 405)
                self.assertEqual(answer.headers.get("Allow"), "GET, HEAD, POST")
                self.assertNotIn(b"Traceback", answer.body)
        self.assertEqual(self.browser.result(url, process_id), "headers")

    def test_a_view_may_declare_its_results_public(self):
        self.assertEqual(self.replayed("public-headers", cache="public, max-age=3600"), ("public, max-age=3600", None))
        self.assertEqual(self.replayed("public-headers"), (NOT_SHARED, None))  # the job said nothing


class TestAddedHeaders(JobTestCase):
    """Headers a job added (``addHeader``) and those only shared caches read go the owner-only way too."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING
    SHARED_CACHES_ONLY = ("Surrogate-Control", "CDN-Cache-Control", "X-Accel-Expires")

    def served(self, view):
        """The result's headers (a WebTest multidict), by HEAD and by GET (which takes it)."""
        url, process_id, answer = self.run_job(view)
        self.assertEqual(answer["state"], registry.DONE, answer)
        result = f"{url}/result?process_id={process_id}"
        head = self.browser.head(result)
        got = self.browser.testapp.get(result, headers=self.browser._req_headers, expect_errors=True)
        self.assertEqual(got.status_int, 200)
        for name in ("Cache-Control", "Vary", "Link", *self.SHARED_CACHES_ONLY):
            self.assertEqual(head.headers.getall(name), got.headers.getall(name), name)
        return got.headers

    def test_an_owner_only_result(self):
        headers = self.served("adds-cache-headers")
        self.assertEqual(headers.getall("Cache-Control"), ["private, max-age=3600"])
        self.assertEqual(headers.getall("Vary"), ["Accept-Language, Cookie, Authorization"])
        for name in self.SHARED_CACHES_ONLY:
            self.assertEqual(headers.getall(name), [], name)
        self.assertEqual(headers.getall("Link"), ["</a>; rel=a"])

    def test_a_public_result(self):
        headers = self.served("public-adds-cache-headers")
        self.assertEqual(headers.getall("Cache-Control"), ["public, max-age=3600"])
        self.assertEqual(headers.getall("Vary"), ["Accept-Language"])
        self.assertEqual(headers.getall("Surrogate-Control"), ["max-age=3600"])
        self.assertEqual(sorted(headers.getall("X-Accel-Expires")), ["3600", "7200"])
        self.assertEqual(headers.getall("CDN-Cache-Control"), ["max-age=3600"])
