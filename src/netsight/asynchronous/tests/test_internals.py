"""The private Zope APIs of ``internals.py`` still work as the add-on needs.

Should a Zope release change one of them, these tests name it: not only
its signature, but what a user sees of it through real publishing (the
status a published exception answers, the retries of a real ConflictError,
the roles that protect a published view, the root's listing of its objects).
"""

from Acquisition import aq_base
from inspect import signature
from io import BytesIO
from OFS.Folder import manage_addFolder
from plone.app.testing import PloneSandboxLayer
from Products.Five import BrowserView
from zope.configuration import xmlconfig
from zope.interface import implementer
from zope.publisher.interfaces import IPublishTraverse
from ZODB.POSException import ConflictError
from ZPublisher import WSGIPublisher
from ZPublisher.HTTPRequest import WSGIRequest
from ZPublisher.HTTPResponse import WSGIResponse

from netsight.asynchronous import exceptions
from netsight.asynchronous import internals
from netsight.asynchronous import registry
from netsight.asynchronous.testing import JobsFunctionalTesting
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FIXTURE
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.view import BaseAsyncView

import contextlib
import importlib.metadata
import os
import tempfile
import textwrap
import transaction
import unittest
import uuid
import ZODB


def request(**environ):
    response = WSGIResponse(stdout=BytesIO(), stderr=BytesIO())
    environ = {"SERVER_NAME": "localhost", "SERVER_PORT": "80", "REQUEST_METHOD": "GET", **environ}
    return WSGIRequest(BytesIO(), environ, response)


class TestInternals(unittest.TestCase):
    def test_zope_is_in_the_declared_range(self):
        major = int(importlib.metadata.version("Zope").split(".")[0])
        self.assertTrue(5 <= major < 7, "setup.py declares Zope >= 5.8, < 7")

    def test_a_locked_body_stays_as_it_was_set(self):
        response = request().response
        internals.set_locked_body(response, b"<html><head></head>as the job made it</html>")
        response.setBase("http://localhost/base/")
        response.setBody("something else")
        self.assertEqual(response.body, b"<html><head></head>as the job made it</html>")
        self.assertNotIn("content-type", response.headers)  # no text/plain default either

    def test_the_publisher_halves_keep_their_signatures(self):
        self.assertEqual(list(signature(WSGIPublisher.publish).parameters), ["request", "module_info"])
        self.assertEqual(list(signature(WSGIPublisher.transaction_pubevents).parameters)[:2], ["request", "response"])
        req = request()
        self.assertIsInstance(
            WSGIPublisher.transaction_pubevents(req, req.response), contextlib.AbstractContextManager
        )

    def test_an_object_held_lives_until_the_request_closes(self):
        closed = []

        class Holder:
            def __del__(self):
                closed.append(True)

        req = request()
        internals.hold(req, Holder())
        self.assertEqual(closed, [])
        req.close()
        self.assertEqual(closed, [True])

    def test_runwsgi_calls_what_is_first_in_its_databases_before_it_closes_them(self):
        """Zope's own ``runwsgi`` command (``Zope2.Startup.serve``), with a
        server that returns at once as waitress does after a KeyboardInterrupt."""
        import Zope2
        from App.config import getConfiguration
        from Zope2.Startup.serve import main

        self.addCleanup(setattr, Zope2, "opened", Zope2.opened)
        db = ZODB.DB(None)
        Zope2.opened = [db]
        seen = []

        def write():
            manager = transaction.TransactionManager()
            connection = db.open(transaction_manager=manager)
            connection.root()["ended"] = True
            manager.commit()
            connection.close()
            seen.append("written")

        internals.before_databases_close(write)
        with tempfile.TemporaryDirectory() as tmp:
            configuration = getConfiguration()  # zope.conf's pidfile, which runwsgi writes
            if "pid_filename" in vars(configuration):
                self.addCleanup(setattr, configuration, "pid_filename", configuration.pid_filename)
            else:
                self.addCleanup(delattr, configuration, "pid_filename")
            configuration.pid_filename = os.path.join(tmp, "Z4.pid")
            ini = os.path.join(tmp, "serve.ini")
            with open(ini, "w") as f:
                f.write(textwrap.dedent(f"""\
                    [app:main]
                    use = call:{__name__}:make_app
                    [server:main]
                    use = call:{__name__}:make_server
                    """))
            main(["runwsgi", ini], quiet=True)
        self.assertEqual(seen, ["written"])  # before the database closed
        with self.assertRaises(Exception):
            db.open()  # closed after it, by runwsgi

    def test_a_users_csrf_tokens_are_made_from_the_keys_of_its_keyring(self):
        from AccessControl.SecurityManagement import newSecurityManager
        from AccessControl.SecurityManagement import noSecurityManager
        from AccessControl.users import SimpleUser
        from plone.keyring.keymanager import KeyManager
        from plone.protect.authenticator import createToken

        import hashlib
        import hmac

        manager = KeyManager()
        newSecurityManager(None, SimpleUser("someone", "", ["Member"], []))
        self.addCleanup(noSecurityManager)
        keys = internals.csrf_keys("someone", manager)
        self.assertEqual(len(keys), len(manager["_forms"]))
        made = {hmac.new(key.encode(), b"someone", hashlib.sha1).hexdigest() for key in keys}
        for _ in range(20):  # a key drawn at random each time
            self.assertIn(createToken(manager=manager), made)


# The views that the behaviour tests publish (INTERNALS_TESTING's ZCML).

RETRY_COUNTS = {}  # a test's token -> the retry_count that each publication of its view saw


def conflict_until(request, token, times):
    """Note the request's retry count; a real ConflictError for the first ``times`` publications."""
    seen = RETRY_COUNTS.setdefault(token, [])
    seen.append(request.retry_count)
    if len(seen) <= int(times):
        raise ConflictError(f"publication {len(seen)} conflicts")
    return f"publication {len(seen)}"


class ConflictsAsARequest(BrowserView):
    """Published by Zope's own publish_module: a ConflictError for its first ``times`` publications."""

    def __call__(self):
        return conflict_until(self.request, self.request.form["token"], self.request.form["times"])


class ConflictsAsAJob(BaseAsyncView):
    """The same, as a job: published by the worker's retry loop."""

    def __run__(self, process_id=None, token="", times="0"):
        return conflict_until(self.request, token, times)


class RaisesByName(BrowserView):
    """Raises the exception of ``exceptions.py`` named by the form's ``name``."""

    def __call__(self):
        raise getattr(exceptions, self.request.form["name"])("raised by a published view")


class UnregisteredNotFound(exceptions.NotFound):
    """A NotFound whose name nobody registered."""


class RaisesUnregistered(BrowserView):
    def __call__(self):
        raise UnregisteredNotFound("raised by a published view")


@implementer(IPublishTraverse)
class Managed(BrowserView):
    """Protected by netsight.async: Manage processes; its ``page`` is published with the view's roles,
    as a status page (pages.StatusPage) is."""

    def __call__(self):
        return "the managed view"

    def publishTraverse(self, request, name):
        return ManagedPage(self)


class ManagedPage:
    """A page below ``Managed``, with the roles that protect the view."""

    def __init__(self, view):
        self.__parent__ = view
        self.__roles__ = internals.roles_of(view.context, view.__name__, view)

    def __call__(self):
        return "the managed page"


VIEWS_ZCML = f"""\
<configure xmlns="http://namespaces.zope.org/zope" xmlns:browser="http://namespaces.zope.org/browser">
  <browser:page name="internals-conflicts" for="*" permission="zope2.View" class="{__name__}.ConflictsAsARequest" />
  <browser:page name="internals-conflicts-job" for="*" permission="zope2.View" class="{__name__}.ConflictsAsAJob" />
  <browser:page name="internals-raises" for="*" permission="zope2.View" class="{__name__}.RaisesByName" />
  <browser:page name="internals-raises-unregistered" for="*" permission="zope2.View"
                class="{__name__}.RaisesUnregistered" />
  <browser:page name="internals-managed" for="*" permission="netsight.async.ManageProcesses"
                class="{__name__}.Managed" />
</configure>
"""

ROLES = ("Manager", "Site Administrator", "Editor", "Member")  # a user of each, named after it
PASSWORD = "secret-of-a-role"


def user_of(role):
    return role.lower().replace(" ", "-")


class InternalsLayer(PloneSandboxLayer):
    """The add-on's Plone site, with the views above and a user of each role of ROLES."""

    defaultBases = (NETSIGHT_ASYNC_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        xmlconfig.string(VIEWS_ZCML, context=configurationContext)

    def setUpPloneSite(self, portal):
        for role in ROLES:
            portal.acl_users.userFolderAddUser(user_of(role), PASSWORD, [role], [])


INTERNALS_FIXTURE = InternalsLayer()
INTERNALS_TESTING = JobsFunctionalTesting(bases=(INTERNALS_FIXTURE,), name="NetsightAsync:Internals")


class TestTheStatusOfOurExceptions(JobTestCase):
    """``register_status``: a published view that raises one of our exceptions
    answers its status, through Plone's exception view."""

    layer = INTERNALS_TESTING

    def test_each_exception_answers_its_status(self):
        for name, status in (
            ("NoSuchProcessError", 404),
            ("ResultShownError", 410),
            ("MissingProcessIdError", 400),
            ("BadStartError", 400),
            ("StartRefusedError", 403),
            ("QueueFullError", 503),
            ("ThreadDiedBeforeCompletionError", 500),
        ):
            self.browser.open(self.url(f"@@internals-raises?name={name}"))
            self.assertEqual(self.browser.status, status, f"{name}: internals.register_status")

    def test_zope_finds_the_status_by_the_class_name_only(self):
        # Why register_status is needed: a NotFound of another name answers 500,
        # not its base class's 404. Should this fail, Zope reads the class itself.
        self.browser.open(self.url("@@internals-raises-unregistered"))
        self.assertEqual(self.browser.status, 500, "Zope no longer needs internals.register_status")


class TestRetries(JobTestCase):
    """``set_retry_count`` and ``set_conflict_retries``: a job meets a real
    ConflictError as Zope's own publisher (``publish_module``) retries a request."""

    layer = INTERNALS_TESTING

    def conflicting_request(self, times):
        """Publish internals-conflicts through Zope's publish_module; returns (status, body, retry counts)."""
        token = uuid.uuid4().hex
        self.browser.open(self.url(f"@@internals-conflicts?token={token}&times={times}"))
        return self.browser.status, self.browser.text, RETRY_COUNTS.pop(token)

    def conflicting_job(self, times):
        """Run internals-conflicts-job in the worker; returns (state, result or error, retry counts)."""
        token = uuid.uuid4().hex
        url, process_id, answer = self.run_job("@@internals-conflicts-job", token=token, times=times)
        if answer["state"] == registry.DONE:
            outcome = self.browser.result(url, process_id)
        else:
            outcome = self.fresh_record(process_id).error
        return answer["state"], outcome, RETRY_COUNTS.pop(token)

    def test_a_job_is_retried_as_zope_retries_a_request(self):
        status, body, zope_counts = self.conflicting_request(2)
        self.assertEqual((status, body, zope_counts), (200, "publication 3", [0, 1, 2]))
        state, result, job_counts = self.conflicting_job(2)
        self.assertEqual((state, result), (registry.DONE, "publication 3"))
        self.assertEqual(job_counts, zope_counts)

    def test_retries_end_where_zopes_end(self):
        self.addCleanup(internals.set_conflict_retries, internals.set_conflict_retries(1))
        status, body, zope_counts = self.conflicting_request(99)
        self.assertEqual((status, zope_counts), (500, [0, 1]))  # max-conflict-retries 1: one retry
        state, error, job_counts = self.conflicting_job(99)
        self.assertEqual(state, registry.FAILED)
        self.assertIn("ConflictError", error)
        self.assertEqual(job_counts, zope_counts)


class TestTheRolesOfAView(JobTestCase):
    """``roles_of``: the roles that Zope's security policy lets publish a view,
    which a status page takes as its own."""

    layer = INTERNALS_TESTING

    def answers(self, browser, path):
        browser.open(self.url(path))
        return browser.status == 200 and browser.text.startswith("the managed")

    def test_the_roles_are_those_that_may_publish_the_view(self):
        view = self.portal.unrestrictedTraverse("@@internals-managed")
        roles = set(internals.roles_of(self.portal, "internals-managed", view))
        self.assertIn("Manager", roles)
        self.assertNotIn("Member", roles)
        for role in ROLES:
            browser = JobBrowser(self.app, self.site_url, user_of(role), PASSWORD)
            self.assertEqual(self.answers(browser, "@@internals-managed"), role in roles, role)
            self.assertEqual(self.answers(browser, "@@internals-managed/page"), role in roles, f"{role}: page")
        anonymous = JobBrowser(self.app, self.site_url, user=None)
        self.assertFalse(self.answers(anonymous, "@@internals-managed/page"))

    def test_a_view_that_anonymous_may_see(self):
        view = self.portal.unrestrictedTraverse("@@internals-raises")
        self.assertIn("Anonymous", internals.roles_of(self.portal, "internals-raises", view))

    def test_without_roles_of_its_own_the_default(self):
        self.assertEqual(internals.roles_of(self.portal, "", object(), ("Manager",)), ("Manager",))


class TestUnlist(JobTestCase):
    """``unlist``: what legacy.py removes from the Zope root leaves its listing
    (``objectIds``, ``objectValues``), for good, and nothing else does."""

    layer = INTERNALS_TESTING

    def test_the_root_lists_the_object_no_more(self):
        app = aq_base(self.app)  # as legacy.remove_1x_registry has it
        manage_addFolder(app, "listed-once")
        manage_addFolder(app, "listed-still")
        transaction.commit()
        before = list(app.objectIds())
        self.assertIn("listed-once", before)

        self.assertTrue(internals.unlist(app, "listed-once"))
        transaction.commit()
        self.assertEqual(list(app.objectIds()), [i for i in before if i != "listed-once"])
        self.assertNotIn("listed-once", [obj.getId() for obj in app.objectValues()])
        self.assertIn("listed-once", app.__dict__)  # the attribute is the caller's to remove
        self.assertFalse(internals.unlist(app, "listed-once"))  # once

        connection = app._p_jar.db().open(transaction.TransactionManager())  # as another request sees it
        self.addCleanup(connection.close)
        self.assertEqual(list(connection.root()["Application"].objectIds()), list(app.objectIds()))


def make_app(global_conf, **local_conf):
    """The WSGI application of the runwsgi test: never called."""
    return lambda environ, start_response: []


def make_server(global_conf, **local_conf):
    """The server of the runwsgi test: returns at once, as waitress's does
    when a signal's KeyboardInterrupt ends its loop."""
    return lambda app: None
