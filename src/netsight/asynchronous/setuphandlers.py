"""Set-up helpers of the GenericSetup profiles ``netsight.async:default`` and ``:uninstall``."""

from plone.base.interfaces import INonInstallable
from zope.interface import implementer


@implementer(INonInstallable)
class HiddenProfiles:
    """Keep the uninstall profile out of the add-ons control panel."""

    def getNonInstallableProfiles(self):
        return ["netsight.async:uninstall"]
