"""What a Plone site's set-up is, as install, upgrade and uninstall change it: for tests that compare two sites.

``site_state`` gathers, as plain values, what a GenericSetup profile may
set on a site: the browser layers, the site's local utilities, every
registry record, the actions of every category, the configlets, the
site's own role/permission settings and roles, and the profile's version.
Two sites made the same way and then installed, upgraded or uninstalled
must give equal states.
"""

from Acquisition import aq_base
from plone.browserlayer.interfaces import ILocalBrowserLayerType
from plone.registry.interfaces import IRegistry

import transaction


PROFILE = "netsight.async:default"


def site_state(site):
    """The set-up of ``site``, as a dict of plain values."""
    manager = site.getSiteManager()
    registry = manager.getUtility(IRegistry)
    return {
        "browser layers": sorted(
            (name, layer.__identifier__) for name, layer in manager.getUtilitiesFor(ILocalBrowserLayerType)
        ),
        "local utilities": sorted(
            (registration.provided.__identifier__, registration.name)
            for registration in manager.registeredUtilities()
        ),
        # Every record's name; the values of the add-on's (others may hold the time they were set).
        "registry records": sorted(registry.records.keys()),
        "netsight.async records": {
            name: (type(record.field).__name__, getattr(record.field, "min", None), getattr(record.field, "max", None),
                   repr(record.value))
            for name, record in registry.records.items()
            if name.startswith("netsight")
        },
        "actions": _actions(site.portal_actions),
        "configlets": sorted(
            (
                configlet.getId(),
                configlet.getAppId(),
                configlet.getCategory(),
                str(configlet.Title()),
                configlet.getActionExpression(),
                tuple(configlet.getPermissions()),
                bool(configlet.getVisibility()),
            )
            for configlet in site.portal_controlpanel.listActions()
        ),
        "role/permission map": {
            name: value for name, value in aq_base(site).__dict__.items() if name.endswith("_Permission")
        },
        "roles": tuple(getattr(aq_base(site), "__ac_roles__", ())),
        "profile version": site.portal_setup.getLastVersionForProfile(PROFILE),
    }


def _actions(tool):
    return {
        category.getId(): [
            (action.getId(), sorted((key, repr(action.getProperty(key))) for key in action.propertyIds()))
            for action in category.objectValues()
        ]
        for category in tool.objectValues()
    }


def add_site(app, site_id):
    """A new Plone site ``site_id`` in ``app``, as the test fixture's was made
    (without the add-on), committed."""
    from Products.CMFPlone.factory import addPloneSite

    addPloneSite(app, site_id, setup_content=False)
    transaction.commit()
    return app[site_id]
