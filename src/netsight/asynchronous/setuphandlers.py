"""Set-up helpers of the GenericSetup profiles ``netsight.async:default`` and ``:uninstall``."""

from netsight.asynchronous import registry
from netsight.asynchronous.legacy import remove_1x_registry
from netsight.asynchronous.removal import remove_site
from netsight.asynchronous.settings import LONGEST
from netsight.asynchronous.settings import REGISTRY_PREFIX
from plone.base.interfaces import INonInstallable
from plone.registry.interfaces import IRegistry
from zope.component import getUtility
from zope.interface import implementer

import logging


logger = logging.getLogger("netsight.async")


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


PROFILE_ID = "profile-netsight.async:default"
MY_PROCESSES = ("user", "netsight-async-processes")  # the action's category and id (actions.xml)
MY_PROCESSES_ICON = "string:hourglass-split"  # its icon_expr (actions.xml): an icon of Plone's icon registry
MY_PROCESSES_URL = 'python:f"{plone_portal_state.navigation_root_url()}/@@my-processes"'  # its url_expr (actions.xml)
MY_PROCESSES_URL_BEFORE_1010 = "string:${globals_view/navigationRootUrl}/@@my-processes"
LOGOUT = "logout"  # Plone's "Log out" of the personal menu: My processes goes just above it
CONFIGLET = "netsight-async"  # Background processes in Site Setup (controlpanel.xml)


def upgrade_to_1007(setup_tool):
    """Upgrade step 1007: the site as a fresh install makes it, what its administrator hid kept hidden.

    Every import step of the profile runs again (browser layer, role map,
    registry records, whose values stay, control panel), but ``actions``
    only where the site lacks *My processes*: an import would undo what a
    site's administrator changed of it (hid it, retitled it). A hidden
    *Background processes* in Site Setup stays hidden too (its import
    updates its permission).
    """
    site = setup_tool.aq_parent
    cap_seconds()  # before the records are imported again: one above their maximum would be emptied
    steps = ["browserlayer", "rolemap", "plone.app.registry", "controlpanel"]
    if not has_my_processes(site):
        steps.insert(2, "actions")
    configlet = _configlet(site)
    hidden = configlet is not None and not configlet.visible
    for step in steps:
        setup_tool.runImportStepFromProfile(PROFILE_ID, step, run_dependencies=False)
    if hidden:
        _configlet(site).visible = False


def upgrade_to_1008(setup_tool):
    """Upgrade step 1008: the record ``keep_result`` (the others keep their
    values), and *My processes* just above *Log out*, where a fresh install
    puts it (``insert-before`` in actions.xml); nothing else of the action changes."""
    cap_seconds()
    setup_tool.runImportStepFromProfile(PROFILE_ID, "plone.app.registry", run_dependencies=False)
    place_my_processes(setup_tool.aq_parent)


def upgrade_to_1009(setup_tool):
    """Upgrade step 1009: the registry's records, indexes and counts under one
    key of the main database's root (``registry.prepare``), in the upgrade's
    transaction; the site's set-up is unchanged. Every instance does the same
    as it starts: on a database that an instance of this version served, it
    finds nothing to move."""
    moved, indexed = registry.prepare(setup_tool.getPhysicalRoot()._p_jar.root())
    if moved is not None:
        logger.info("netsight.async: moved the registry's %d processes into one key, %r", moved, registry.ROOT_KEY)
    if indexed:
        logger.info("netsight.async: indexed %d processes for the lists of processes", indexed)


def upgrade_to_1010(setup_tool):
    """Upgrade step 1010: *My processes* gets its icon (``MY_PROCESSES_ICON``,
    as actions.xml gives it) where it has none, and its URL by
    ``plone_portal_state`` where it has the one of before
    (``globals_view/navigationRootUrl``, deprecated: a warning at every page);
    an icon or a URL the site set stays, and nothing else of the action changes."""
    category, action = MY_PROCESSES
    actions = getattr(setup_tool.aq_parent.portal_actions, category, None)
    if actions is None or action not in actions.objectIds():
        return
    action = actions[action]
    if not action.getProperty("icon_expr"):
        action.manage_changeProperties(icon_expr=MY_PROCESSES_ICON)
    if action.getProperty("url_expr") == MY_PROCESSES_URL_BEFORE_1010:
        action.manage_changeProperties(url_expr=MY_PROCESSES_URL)


def upgrade_to_1011(setup_tool):
    """Upgrade step 1011: the settings of seconds get their maximum, a century (``settings.LONGEST``).

    A value saved above it (an expiry of 1e12 seconds, which broke the
    lists) becomes a century (``cap_seconds``); the registry's records are
    then imported again, their values kept, so that the control panel
    refuses more, as on a fresh install.
    """
    cap_seconds()
    setup_tool.runImportStepFromProfile(PROFILE_ID, "plone.app.registry", run_dependencies=False)


def cap_seconds():
    """Set each of the site's settings saved above a century (``settings.LONGEST``) to a century, logged.

    An import of the records with their maximum would empty such a value
    (plone.registry keeps only a value that its new field accepts): the
    steps that import them (1007, 1008, 1011) call this first.
    """
    settings_registry = getUtility(IRegistry)
    for name, record in list(settings_registry.records.items(min=REGISTRY_PREFIX, max=REGISTRY_PREFIX + "\uffff")):
        if isinstance(record.value, float) and record.value > LONGEST:
            logger.warning("netsight.async: %s = %r is above a century of seconds; it is a century now", name,
                           record.value)
            record.value = LONGEST


def place_my_processes(site):
    """Move *My processes* just above *Log out* in the personal menu, if it is below it."""
    category, action = MY_PROCESSES
    actions = getattr(site.portal_actions, category, None)
    ids = list(actions.objectIds()) if actions is not None else []
    if action in ids and LOGOUT in ids and ids.index(action) > ids.index(LOGOUT):
        actions.moveObjectToPosition(action, ids.index(LOGOUT))


def has_my_processes(site):
    """Whether the site's personal menu has the action *My processes* (hidden or not)."""
    category, action = MY_PROCESSES
    actions = getattr(site.portal_actions, category, None)
    return actions is not None and action in actions.objectIds()


def _configlet(site):
    for configlet in site.portal_controlpanel.listActions():
        if configlet.getId() == CONFIGLET:
            return configlet
    return None


def uninstalled(setup_tool):
    """After the uninstall profile: the site's processes are cancelled and
    removed (and the registry, once no site has any); so is the 1.x
    registry, as an install or an upgrade removes it (a 1.x site, at
    profile 1.0.0, is listed as installed and may be uninstalled without an upgrade)."""
    remove_site(setup_tool.aq_parent)
    remove_1x_registry(setup_tool.getPhysicalRoot())
