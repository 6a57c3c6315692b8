"""Set-up helpers of the GenericSetup profiles ``netsight.async:default`` and ``:uninstall``."""

from netsight.asynchronous.legacy import remove_1x_registry
from netsight.asynchronous.removal import remove_site
from plone.base.interfaces import INonInstallable
from zope.interface import implementer


@implementer(INonInstallable)
class HiddenProfiles:
    """Keep the uninstall profile out of the add-ons control panel."""

    def getNonInstallableProfiles(self):
        return ["netsight.async:uninstall"]


def installed(setup_tool):
    """After the default profile is applied: no 1.x process registry is left."""
    remove_1x_registry(setup_tool.getPhysicalRoot())


def remove_1x_process_registry(setup_tool):
    """Upgrade step: remove the 1.x process registry from the Zope root."""
    remove_1x_registry(setup_tool.getPhysicalRoot())


def uninstalled(setup_tool):
    """After the uninstall profile: the site's processes are cancelled and
    removed (and the registry, once no site has any)."""
    remove_site(setup_tool.aq_parent)
