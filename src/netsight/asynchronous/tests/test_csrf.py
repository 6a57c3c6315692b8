"""CSRF: Plone's token is needed to start a process, and then the job's writes pass."""

from netsight.asynchronous import protect
from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import at_view
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import page_part
from plone.app.testing import setRoles
from plone.app.testing import TEST_USER_ID
from plone.keyring.interfaces import IKeyManager
from plone.protect.interfaces import IDisableCSRFProtection
from zope.component import getUtility
from zope.interface import alsoProvides
from zope.interface import directlyProvidedBy
from zope.interface import directlyProvides
from zope.interface import implementedBy
from zope.interface import implementer
from zope.interface import Interface
from zope.interface import providedBy

import transaction
import unittest


class TestStartNeedsTheToken(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def assert_refused(self):
        self.assertEqual(self.browser.status, 403)
        page = self.browser.text
        self.assertIn("The form could not be sent.", page)
        (back,) = page_part(page, "back").xpath("ancestor::form[1]")  # "Back to the form" posts to the form
        self.assertEqual(back.get("action"), at_view(self.url("hello")))
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


class TestAnonymousStarts(JobTestCase):
    """As plone.protect: no token from an anonymous visitor, but nothing that
    a browser says came from another site."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.anonymous = JobBrowser(self.app, self.site_url, user=None)

    def post(self, **headers):
        for name, value in headers.items():
            self.anonymous.addHeader(name, value)
        self.anonymous.post(self.url("hello"), "")
        return self.anonymous.status

    def test_a_form_without_a_token_starts(self):
        self.assertEqual(self.post(), 303)
        location = self.anonymous.headers["Location"]
        process_id = location.rpartition("=")[2]
        self.assertEqual(self.anonymous.wait_for(self.url("hello"), process_id)["state"], registry.DONE)
        self.assertEqual(self.anonymous.result(self.url("hello"), process_id), "Hello world!")

    def test_from_this_site(self):
        self.assertEqual(self.post(Origin="http://nohost", **{"Sec-Fetch-Site": "same-origin"}), 303)

    def test_from_another_site_by_origin(self):
        self.assertEqual(self.post(Origin="https://attacker.example"), 403)
        self.assertIn("The form could not be sent.", self.anonymous.text)
        self.assertNotIn("Set-Cookie", self.anonymous.headers)  # the visitor's cookie is left alone
        self.assertIsNone(self.app._p_jar.root().get(registry.ROOT_KEY))

    def test_from_another_site_by_fetch_metadata(self):
        self.assertEqual(self.post(**{"Sec-Fetch-Site": "cross-site"}), 403)

    def test_an_opaque_origin_is_another_site(self):
        self.assertEqual(self.post(Origin="null"), 403)

    def test_a_logged_in_user_still_needs_the_token(self):
        self.browser.addHeader("Origin", "http://nohost")
        self.browser.post(self.url("hello"), "")
        self.assertEqual(self.browser.status, 403)


class TestTheJobsRequestIsMarked(unittest.TestCase):
    """The job's request provides ``IDisableCSRFProtection`` beside what it
    provided (Plone's layers), in the order ``alsoProvides`` gives."""

    def test_beside_its_layers(self):
        marked, also = Request(), Request()
        for request in (marked, also):
            directlyProvides(request, IFirstLayer, ISecondLayer)
        protect._also_provides(marked, IDisableCSRFProtection)
        alsoProvides(also, IDisableCSRFProtection)
        self.assertEqual(list(directlyProvidedBy(marked)), [IFirstLayer, ISecondLayer, IDisableCSRFProtection])
        self.assertEqual(list(directlyProvidedBy(marked)), list(directlyProvidedBy(also)))
        self.assertEqual(providedBy(marked).__iro__, providedBy(also).__iro__)

    def test_with_nothing_else(self):
        request = Request()
        protect._also_provides(request, IDisableCSRFProtection)
        self.assertEqual(list(directlyProvidedBy(request)), [IDisableCSRFProtection])
        self.assertTrue(IRequestOfTheTest.providedBy(request))  # what its class implements stays


    def test_beside_a_declaration(self):
        """Interfaces given as a declaration (``implementedBy``), or the mark
        given twice: as ``alsoProvides`` does."""
        marked, also = Request(), Request()
        for request in (marked, also):
            directlyProvides(request, implementedBy(Layered), IFirstLayer)
        for _twice in range(2):
            protect._also_provides(marked, IDisableCSRFProtection)
            alsoProvides(also, IDisableCSRFProtection)
        self.assertEqual(list(directlyProvidedBy(marked)), list(directlyProvidedBy(also)))
        self.assertEqual(providedBy(marked).__iro__, providedBy(also).__iro__)
        self.assertTrue(ISecondLayer.providedBy(marked))


class IFirstLayer(Interface):
    pass


class ISecondLayer(Interface):
    pass


class IRequestOfTheTest(Interface):
    pass


@implementer(IRequestOfTheTest)
class Request:
    pass


@implementer(ISecondLayer)
class Layered:
    pass
