"""The site ``make demo`` makes (demo/instance/create_site.py), in a real Zope instance: its member calls ``@async-processes``.

The script runs as ``make demo`` runs it (``zconsole run``), twice (the
second run reuses the site), and once more after netsight.async was
uninstalled while the demo add-on stayed (it installs it again), then ``runwsgi`` serves the instance and the
demo's member asks for its processes over HTTP, as plone.restapi's clients
do. Slow: creating a Plone site takes a while.
"""

from netsight.asynchronous.tests.helpers.instances import Client
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from pathlib import Path

import json
import unittest


CREATE_SITE = Path(__file__).resolve().parents[6] / "instance" / "create_site.py"

ADMIN = """
import transaction
if app.acl_users.getUser("admin") is None:  # make demo's mkwsgiinstance --user admin:admin
    app.acl_users._doAddUser("admin", "admin", ["Manager"], [])
    transaction.commit()
"""

UNINSTALL = """
import transaction
from AccessControl.SecurityManagement import newSecurityManager
from plone.base.utils import get_installer
from zope.component.hooks import setSite
newSecurityManager(None, app.acl_users.getUser("admin").__of__(app.acl_users))
site = app.plone
setSite(site)
installer = get_installer(site, site.REQUEST)
installer.uninstall_product("netsight.async")  # as from Site Setup, Add-ons; the demo add-on stays
transaction.commit()
print("installed:", installer.is_product_installed("netsight.async"), installer.is_product_installed("netsight.asyncdemo"))
"""

MAIL_SETTINGS = """
import json
from zope.component import getUtility
from zope.component.hooks import setSite
from plone.registry.interfaces import IRegistry
site = app.plone
setSite(site)
registry = getUtility(IRegistry)
member = site.portal_membership.getMemberById("member")
print(json.dumps({
    "from": registry["plone.email_from_address"],
    "host": registry["plone.smtp_host"],
    "port": registry["plone.smtp_port"],
    "restapi": site.portal_setup.getLastVersionForProfile("plone.restapi:default"),
    "demo": site.portal_setup.getLastVersionForProfile("netsight.asyncdemo:default"),
    "email": member.getProperty("email") if member is not None else None,
}))
"""


@unittest.skipUnless(CREATE_SITE.exists(), "no demo/instance beside the demo's sources (an installed copy)")
class TestTheDemoSite(unittest.TestCase):
    def setUp(self):
        self.cluster = Cluster("demo-site")
        self.addCleanup(self.cluster.close)
        self.instance = self.cluster.instance(zcml="")  # the demo comes in through plone.autoinclude

    def test_a_member_calls_async_processes(self):
        instance = self.instance
        with logs_on_failure(instance):
            instance.run_script(ADMIN)
            created = instance.run_script(CREATE_SITE.read_text(encoding="utf-8"))
            self.assertIn("Created the Plone site 'plone'.", created)
            self.assertIn("Added the member 'member'", created)
            again = instance.run_script(CREATE_SITE.read_text(encoding="utf-8"))
            self.assertIn("Reusing the Plone site 'plone'.", again)
            self.assertNotIn("Added the member", again)
            self.assertNotIn("Installed", again)
            # netsight.async uninstalled while the demo stays: the next make demo installs it again
            # (else My processes, the control panel and @async-processes, below, answer 404).
            self.assertIn("installed: False True", instance.run_script(UNINSTALL))
            repaired = instance.run_script(CREATE_SITE.read_text(encoding="utf-8"))
            self.assertIn("Installed netsight.async:default (it was not installed).", repaired)
            self.assertIn("Reusing the Plone site 'plone'.", repaired)
            state = json.loads(instance.run_script(MAIL_SETTINGS).strip().splitlines()[-1])
            self.assertEqual(state["from"], "demo@localhost")
            self.assertEqual((state["host"], state["port"]), ("localhost", 25))
            self.assertNotEqual(state["restapi"], "unknown")
            self.assertEqual(state["demo"], ["1003"])
            self.assertEqual(state["email"], "member@example.org")
            instance.start()
            member = Client("member", "member-demo")
            answer = member.get(f"{instance.url}/plone/@async-processes", headers={"Accept": "application/json"})
            self.assertEqual(answer.status, 200, answer.text[:500])
            self.assertTrue(answer.headers["Content-Type"].startswith("application/json"), answer.headers)
            self.assertEqual(answer.json()["items_total"], 0)
            form = member.get(f"{instance.url}/plone/fibonacci")
            self.assertEqual(form.status, 200)
            self.assertIn("Make it fail half-way", form.text)
