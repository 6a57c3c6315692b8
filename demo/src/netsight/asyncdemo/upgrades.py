"""The demo profile's upgrade steps that are code: a setting is given only where the site has none."""

from Products.CMFCore.utils import getToolByName


# As profiles/default/registry.xml gives them to a new site.
MAIL_SETTINGS = {
    "plone.email_from_address": "demo@localhost",
    "plone.email_from_name": "netsight.async demo",
    "plone.smtp_host": "localhost",
    "plone.smtp_port": 25,
}


def mail_settings(context):
    """1003: the demo's mail settings, for @@fibonacci-mail, each only where
    the site has none: an administrator's mail settings stay, and nothing
    else of registry.xml is imported again (the unthemed host names stay)."""
    settings = getToolByName(context, "portal_registry")
    for name, value in MAIL_SETTINGS.items():
        if not settings.get(name):
            settings[name] = value
