"""Site Administrators hold "netsight.async: Manage processes": the Managers' list, the control panel, every process.

The add-on's own permission decides, on the site, with the roles held
there: the status pages, the Managers' list, the control panel (and its
entry in Site Setup) and ``@async-processes`` agree. A Member is refused.
"""

from AccessControl.Permission import getPermissionIdentifier
from AccessControl.PermissionRole import rolesForPermissionOn
from Acquisition import aq_base
from netsight.asynchronous import owners
from netsight.asynchronous import registry
from netsight.asynchronous.testing import chromium_server_url
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import NETSIGHT_ASYNC_RESTAPI_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import join_workers
from netsight.asynchronous.tests.helpers.sitelayers import SITE_B_TESTING
from netsight.asynchronous.tests.test_manage_processes import action_form
from netsight.asynchronous.tests.test_manage_processes import ids
from netsight.asynchronous.tests.test_ownership import without_tokens
from plone.app.testing import TEST_USER_ID
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD
from urllib.parse import urlencode

import lxml.html
import transaction
import unittest


PERMISSION = "netsight.async: Manage processes"
ADMIN, ADMIN_PASSWORD = "site-admin", "site-admin-secret-12345"
PANEL = "@@netsight-async-controlpanel"
LIST = "@@netsight-async-processes"
UNKNOWN = "0" * 32


def links(html):
    return set(lxml.html.fromstring(html).xpath("//a/@href"))


def granted(portal):
    """The roles the site grants the permission, and whether it acquires more."""
    roles = {entry["name"] for entry in portal.rolesOfPermission(PERMISSION) if entry["selected"]}
    return roles, bool(portal.acquiredRolesAreUsedBy(PERMISSION))


def only_managers(portal):
    """Take the permission away from Site Administrators on the site (as its Security tab can)."""
    portal.manage_permission(PERMISSION, ["Manager"], acquire=False)
    transaction.commit()


class TestSiteAdministrator(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.portal.acl_users.userFolderAddUser(ADMIN, ADMIN_PASSWORD, ["Member", "Site Administrator"], [])
        transaction.commit()
        self.admin = JobBrowser(self.app, self.site_url, ADMIN, ADMIN_PASSWORD)

    def test_the_profile_grants_the_permission_on_the_site(self):
        self.assertEqual(granted(self.portal), ({"Manager", "Site Administrator"}, True))
        # and the permission's default roles (its ZCML), in the Zope root, say the same everywhere else
        self.assertEqual(set(rolesForPermissionOn(PERMISSION, self.app)), {"Manager", "Site Administrator"})

    def test_the_managers_list(self):
        url, process_id, answer = self.run_job("hello")  # the test user's, a Member
        self.admin.open(f"{self.site_url}/{LIST}")
        self.assertEqual(self.admin.status, 200)
        self.assertIn(process_id, ids(self.admin.text))
        action, fields = action_form(self.admin.text, process_id)  # Remove, with the token
        self.admin.post(action, urlencode(fields))
        self.assertEqual(self.admin.status, 303)
        self.assertIsNone(self.fresh_record(process_id))
        self.browser.open(f"{self.site_url}/{LIST}")  # the Member
        self.assertEqual(self.browser.status, 302)
        self.assertIn("require_login", self.browser.headers["Location"])

    def test_the_control_panel_and_its_entry_in_site_setup(self):
        self.admin.open(f"{self.site_url}/@@overview-controlpanel")
        self.assertEqual(self.admin.status, 200)
        self.assertIn(f"{self.site_url}/{PANEL}", links(self.admin.text))
        self.admin.open(f"{self.site_url}/{PANEL}")
        self.assertEqual(self.admin.status, 200)
        self.assertIn("<h1>Background processes</h1>", self.admin.text)
        form = {
            "form.widgets.poll_start": "2",
            "form.buttons.save": "Save",
            "_authenticator": self.admin.getControl(name="_authenticator").value,
        }
        self.admin.post(f"{self.site_url}/{PANEL}", urlencode(form))
        self.assertEqual(self.admin.status, 302, self.admin.text[:500])
        transaction.begin()
        self.assertEqual(self.portal.portal_registry["netsight.async.poll_start"], 2.0)
        self.browser.open(f"{self.site_url}/{PANEL}")  # the Member
        self.assertEqual(self.browser.status, 302)
        self.assertIn("require_login", self.browser.headers["Location"])

    def test_every_process_through_the_status_pages(self):
        url, process_id, answer = self.run_job("hello")
        self.assertEqual(self.admin.poll(url, process_id)["state"], registry.DONE)
        self.assertEqual(self.admin.result(url, process_id), "Hello world!")

    def test_the_site_decides_by_the_permission_everywhere(self):
        url, process_id, answer = self.run_job("hello")
        only_managers(self.portal)
        for page in (LIST, PANEL):
            self.admin.open(f"{self.site_url}/{page}")
            self.assertEqual(self.admin.status, 302, page)
        self.admin.open(f"{self.site_url}/@@overview-controlpanel")
        self.assertNotIn(f"{self.site_url}/{PANEL}", links(self.admin.text))
        self.assertEqual(self.admin.poll(url, process_id)["state"], "unknown")
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")  # its owner's still

    def test_the_uninstall_profile_takes_the_sites_grant_back(self):
        setup = self.portal.portal_setup
        setup.runImportStepFromProfile("profile-netsight.async:uninstall", "rolemap")
        # no setting of the site's own, as before the install: it acquires the permission's default roles
        self.assertNotIn(getPermissionIdentifier(PERMISSION), aq_base(self.portal).__dict__)
        setup.runImportStepFromProfile("profile-netsight.async:default", "rolemap")
        self.assertEqual(granted(self.portal), ({"Manager", "Site Administrator"}, True))


class TestSiteAdministratorRestAPI(unittest.TestCase):
    layer = NETSIGHT_ASYNC_RESTAPI_TESTING

    def setUp(self):
        from netsight.asynchronous.tests.test_restapi import Client

        self.addCleanup(join_workers)
        portal = self.layer["portal"]
        portal.acl_users.userFolderAddUser(ADMIN, ADMIN_PASSWORD, ["Member", "Site Administrator"], [])
        transaction.commit()
        self.portal = portal
        site_url = f"{chromium_server_url(self.layer)}/{portal.getId()}"
        self.member = Client(site_url, TEST_USER_NAME, TEST_USER_PASSWORD)
        self.admin = Client(site_url, ADMIN, ADMIN_PASSWORD)

    def test_every_process_of_the_site_and_only_while_the_site_grants_it(self):
        process_id = self.member.start("hello")
        self.member.wait_for(process_id)
        self.assertIn(process_id, self.admin.listed())
        answer = self.admin.process(process_id)
        self.assertEqual((answer.status, answer.headers["Cache-Control"]), (200, "private, no-store"))
        self.assertEqual(self.admin.get("@async-processes").headers["Cache-Control"], "private, no-store")
        self.assertEqual(self.admin.processes(f"?owner={TEST_USER_ID}")["items_total"], 1)
        transaction.begin()
        only_managers(self.portal)
        self.assertEqual(self.admin.listed(), [])
        self.assertEqual(self.admin.process(process_id).status, 404)
        self.assertEqual(self.member.listed(), [process_id])


class TestSiblingSites(JobTestCase):
    """A Site Administrator of a site B manages B's processes, never those of a
    sibling site A, whatever URL reaches them: ``/plone/B/doc`` acquires A's
    ``doc`` through B (the last site traversed is B, the context is A's)."""

    layer = SITE_B_TESTING  # B, added once (sitelayers.py)

    def setUp(self):
        super().setUp()
        from OFS.Folder import manage_addFolder

        site_b = self.app["B"]
        # a user of the Zope root, Site Administrator of B only (a local role there)
        self.app.acl_users.userFolderAddUser(ADMIN, ADMIN_PASSWORD, [], [])
        site_b.manage_setLocalRoles(ADMIN, ["Site Administrator"])
        # A's item that everyone may view, whose URL through B is /plone/B/shared
        manage_addFolder(self.portal, "shared")
        self.portal.shared.manage_permission("View", ["Anonymous"], acquire=True)
        transaction.commit()
        self.admin_of_b = JobBrowser(self.app, self.site_url, ADMIN, ADMIN_PASSWORD)

    def answer(self, url, process_id):
        self.admin_of_b.open(url)
        headers = {name: self.admin_of_b.headers.get(name, "") for name in ("Content-Type", "Cache-Control", "Location")}
        return self.admin_of_b.status, headers, without_tokens(self.admin_of_b.text).replace(process_id, UNKNOWN)

    def test_a_sibling_sites_process_is_unknown_through_the_url_of_its_own_site(self):
        url, process_id, answer = self.run_job("shared/@@hello")  # the test user's, in A (/plone)
        through_b = f"{self.app.absolute_url()}/plone/B/shared/@@hello"
        self.assertEqual(self.app.unrestrictedTraverse("plone/B/shared").getPhysicalPath(), ("", "plone", "shared"))
        for page in ("processing", "completed", "result", "completed?output_json=1", "result?output_json=1"):
            page_url = f"{through_b}/{page}{'&' if '?' in page else '?'}process_id="
            seen = self.answer(page_url + process_id, process_id)
            self.assertEqual(seen, self.answer(page_url + UNKNOWN, process_id), page)
            self.assertEqual(seen[0], 404, page)
        self.admin_of_b.post(f"{through_b}/cancel", urlencode({"process_id": process_id}))
        self.assertEqual(self.admin_of_b.status, 404)
        # B's own lists hold nothing of A's; its owner still gets the result
        for page in (LIST, "@@my-processes"):
            self.admin_of_b.open(f"{self.app.absolute_url()}/plone/B/{page}")
            self.assertEqual(self.admin_of_b.status, 200, page)
            self.assertNotIn(process_id, self.admin_of_b.text, page)
        self.assertEqual(self.browser.result(url, process_id), "Hello world!")

    def test_the_site_is_found_from_the_root_by_its_path(self):
        request = self.layer["request"]
        request["PARENTS"] = [self.app]
        paths = ("/plone", "/B", "", "/plone/B", "/plone/shared", "/gone")
        found = {path: owners.site_object(request, path).getPhysicalPath() for path in paths}
        self.assertEqual(
            found,
            {
                "/plone": ("", "plone"),
                "/B": ("", "B"),
                "": ("",),
                "/plone/B": ("",),  # B acquired through plone is no site at that path: the Zope root decides
                "/plone/shared": ("",),  # no site
                "/gone": ("",),
            },
        )

    def test_a_site_administrator_of_the_processs_own_site_sees_it_through_any_url(self):
        url, process_id, answer = self.run_job("shared/@@hello")
        self.portal.manage_setLocalRoles(ADMIN, ["Site Administrator"])
        transaction.commit()
        through_b = f"{self.app.absolute_url()}/plone/B/shared/@@hello"
        self.assertEqual(self.admin_of_b.poll(through_b, process_id)["state"], registry.DONE)
        self.assertEqual(self.admin_of_b.result(url, process_id), "Hello world!")


class TestSiblingSitesRestAPI(unittest.TestCase):
    """``@async-processes`` of a site B through A's URL (``/plone/B``) is B's: nothing of A's."""

    layer = NETSIGHT_ASYNC_RESTAPI_TESTING

    def setUp(self):
        from netsight.asynchronous.tests.helpers.sitestate import add_site
        from netsight.asynchronous.tests.test_restapi import Client

        self.addCleanup(join_workers)
        app, portal = self.layer["app"], self.layer["portal"]
        site_b = add_site(app, "B")
        for profile in ("plone.restapi:default", "netsight.async:default"):
            site_b.portal_setup.runAllImportStepsFromProfile(f"profile-{profile}")
        site_b.acl_users.userFolderAddUser(ADMIN, ADMIN_PASSWORD, ["Member", "Site Administrator"], [])  # B's
        transaction.commit()
        site_url = f"{chromium_server_url(self.layer)}/{portal.getId()}"
        self.member = Client(site_url, TEST_USER_NAME, TEST_USER_PASSWORD)
        self.admin_of_b = Client(f"{site_url}/B", ADMIN, ADMIN_PASSWORD)

    def test_a_sibling_sites_process_is_unknown_and_unlisted(self):
        process_id = self.member.start("hello")
        self.member.wait_for(process_id)
        answer = self.admin_of_b.get("@async-processes")
        self.assertEqual(answer.status, 200, answer.body[:500])
        self.assertEqual(self.admin_of_b.listed(), [])
        self.assertEqual(self.admin_of_b.process(process_id).status, 404)
        self.assertEqual(self.admin_of_b.delete(f"@async-processes/{process_id}").status, 404)
        self.assertEqual(self.member.listed(), [process_id])  # untouched, its owner's


class TestIsManager(JobTestCase):
    """``owners.is_manager`` reads the permission on the site, as the pages' ZCML does."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_the_permission_is_the_one_of_the_zcml(self):
        from zope.component import getUtility
        from zope.security.interfaces import IPermission

        self.assertEqual(getUtility(IPermission, name="netsight.async.ManageProcesses").title, owners.MANAGE_PROCESSES)
