"""Create the demo's Plone site ``plone``, unless it exists.

Run by ``make demo``: ``NETSIGHT_ASYNC_JOB_THREADS=0 zconsole run var/instance/etc/zope.conf demo/instance/create_site.py``
(a script starts the add-on as an instance does: with no job threads it
takes no job, and its maintenance thread leaves the database alone before
the script closes it).

The demo's profile themes the site on http://127.0.0.1:8080 too (Plone
leaves that host unthemed by default: its registry.xml empties the unthemed
host names); a site made before gets it by the profile's upgrade to 1001.
The profile installs plone.restapi (1002: a member may call
``@async-processes``) and sets the site's mail (1003: a sender address, the
SMTP server on localhost:25, for ``@@fibonacci-mail``). The site gets a
member ``member`` (password ``member-demo``) with the address member@example.org,
who gets that mail. A site reused whose netsight.async (or demo) profile was
uninstalled gets it installed again, and one whose profiles are behind is
upgraded.
"""

from AccessControl.SecurityManagement import newSecurityManager
from Products.CMFPlone.factory import addPloneSite
from netsight.asynchronous.maintenance import MAINTENANCE
from Products.GenericSetup.tool import UNKNOWN
from zope.component.hooks import setSite

import transaction


SITE_ID = "plone"
ADDON_PROFILE = "netsight.async:default"
DEMO_PROFILE = "netsight.asyncdemo:default"
PROFILES = [
    "plone.app.contenttypes:default",
    "plonetheme.barceloneta:default",
    DEMO_PROFILE,
]
MEMBER, MEMBER_PASSWORD = "member", "member-demo"  # a demo's, on 127.0.0.1 (Plone wants 8 characters)
MEMBER_PROPERTIES = {"username": MEMBER, "email": "member@example.org", "fullname": "Demo member"}


def add_member(site):
    """The demo's member, unless it exists."""
    if site.acl_users.getUserById(MEMBER) is None:
        site.portal_registration.addMember(MEMBER, MEMBER_PASSWORD, properties=MEMBER_PROPERTIES)
        print(f"Added the member {MEMBER!r} (password {MEMBER_PASSWORD!r}).")


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
    # The add-on first: uninstalled (Site Setup, Add-ons) while the demo stayed, its
    # pages (My processes, the control panel, @async-processes) would answer 404.
    for profile in (ADDON_PROFILE, DEMO_PROFILE):
        if setup.getLastVersionForProfile(profile) == UNKNOWN:
            setup.runAllImportStepsFromProfile(f"profile-{profile}")
            transaction.commit()
            print(f"Installed {profile} (it was not installed).")
        elif setup.listUpgrades(profile):
            setup.upgradeProfile(profile)
            transaction.commit()
            print(f"Upgraded {profile} to {setup.getLastVersionForProfile(profile)[0]}.")
    print(f"Reusing the Plone site {SITE_ID!r}.")
setSite(app[SITE_ID])
add_member(app[SITE_ID])
transaction.commit()
db = app._p_jar.db()
MAINTENANCE.release(db)  # its thread's passes end before the database closes
db.close()  # saves the FileStorage index
