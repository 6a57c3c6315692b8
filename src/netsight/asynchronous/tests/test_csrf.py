"""CSRF: Plone's token is needed to start a process, and then the job's writes pass."""

from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.base import at_view
from netsight.asynchronous.tests.base import HeldJob
from netsight.asynchronous.tests.base import JobTestCase
from netsight.asynchronous.tests.base import page_part
from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_ID
from plone.keyring.interfaces import IKeyManager
from zope.component import getUtility

import transaction


class TestStartNeedsTheToken(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def assert_refused(self):
        self.assertEqual(self.browser.status, 403)
        page = self.browser.text
        self.assertIn("The form could not be sent.", page)
        self.assertEqual(page_part(page, "back").get("href"), at_view(self.url("hello")))
        self.assertNotIn("Traceback", page)
        self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))

    def test_without_the_token_nothing_starts(self):
        self.browser.post(self.url("hello"), "")
        self.assert_refused()

    def test_with_a_wrong_token_nothing_starts(self):
        self.browser.post(self.url("hello"), "_authenticator=0123456789abcdef")
        self.assert_refused()

    def test_the_views_one_line_puts_the_token_in_a_form(self):
        self.browser.open(self.url("own-template"))
        self.browser.getControl("Start").click()
        self.assertEqual(self.browser.status, 303)


class TestTheJobsWritesPass(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_job_that_adds_a_page_commits_it(self):
        setRoles(self.portal, TEST_USER_ID, ["Contributor"])
        transaction.commit()
        url, process_id, answer = self.run_job("creates-document", title="Imported")
        self.assertEqual(answer["completed"], True)
        transaction.begin()
        self.assertEqual(self.portal[process_id].Title(), "Imported")

    def test_even_if_the_token_expired_while_the_job_ran(self):
        job = HeldJob(self, 10, work="written by the job")
        job.reached()
        keys = getUtility(IKeyManager, context=self.portal)
        for ring in list(keys):
            keys.clear(ring)
            keys.rotate(ring)
        transaction.commit()
        self.assertEqual(job.finish()["state"], "done")
        transaction.begin()
        self.assertEqual(self.portal.work_in_progress, "written by the job")
