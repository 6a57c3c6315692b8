"""Create the demo's Plone site ``plone``, unless it exists.

Run by ``make demo``: ``zconsole run var/instance/etc/zope.conf demo/instance/create_site.py``
"""

from AccessControl.SecurityManagement import newSecurityManager
from Products.CMFPlone.factory import addPloneSite
from Products.GenericSetup.tool import UNKNOWN
from zope.component.hooks import setSite

import transaction


SITE_ID = "plone"
PROFILES = [
    "plone.app.contenttypes:default",
    "plonetheme.barceloneta:default",
    "netsight.asyncdemo:default",
]

app = globals()["app"]  # given by zconsole
admin = app.acl_users.getUser("admin")
newSecurityManager(None, admin.__of__(app.acl_users))
if SITE_ID not in app.objectIds():
    addPloneSite(app, SITE_ID, title="netsight.async demo", extension_ids=PROFILES)
    transaction.commit()
    print(f"Created the Plone site {SITE_ID!r}.")
else:
    setSite(app[SITE_ID])
    setup = app[SITE_ID].portal_setup
    if setup.getLastVersionForProfile("netsight.asyncdemo:default") == UNKNOWN:
        setup.runAllImportStepsFromProfile("profile-netsight.asyncdemo:default")
        transaction.commit()
    print(f"Reusing the Plone site {SITE_ID!r}.")
app._p_jar.db().close()  # saves the FileStorage index
