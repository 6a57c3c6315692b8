"""What a job is called on its pages: its view's ``title``, else the view's registered title or name.

A view's ``title`` (``BaseAsyncView.title``) may be text, an i18n message,
or a method (or property) that computes it from the starting request's
form ("Computing F(2000)"). It is taken at the start (``at_start``), since
the processing page is a later request without that form, and kept in the
process's record; a record stored without one (before 2.0, or by a view
without a title) is called by its view's default (``default``): the title
of a menu item that the view's ZCML registers for it (``browser:page
menu="..." title="..."``), else its name made readable ("export-listing":
"Export listing"). ``shown`` gives a title as text, translated for the
viewer; the templates set it as text, never as HTML.
"""

from zope.browsermenu.interfaces import IMenuItemType
from zope.browsermenu.metaconfigure import MenuItemFactory
from zope.component import getSiteManager
from zope.component import getUtilitiesFor
from zope.interface import providedBy
from zope.i18n import translate
from zope.i18nmessageid import Message

import re


#: The longest title kept in a record, in characters: a title may be made
#: of what a form sent.
MAX_LENGTH = 200
#: What a title of one line leaves out: C0 and C1 control characters, DEL,
#: Unicode's line and paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def at_start(view):
    """The title of the job that ``view`` starts now: its own ``title`` if it
    gives one, else ``default(view)``; text or an i18n message, at most
    ``MAX_LENGTH`` characters."""
    title = getattr(view, "title", None)
    if callable(title):
        title = title()
    if title is None or not str(title).strip():
        return default(view.__name__, view.context, view.request)
    return kept(title)


def default(view_name, context, request):
    """A view's title without its own: the title of its menu item, else its name made readable.

    The menu items are those that ZCML registered (``browser:page menu=""
    title=""``, ``browser:menuItem``): their factories keep what ZCML said,
    read here without making the items (items registered otherwise, as
    adapters of Python, are not read). Making every menu's items of the
    context, as a menu does, would compute Plone's submenus (workflow,
    display, actions) at each start of a job without a title: a twelfth of
    an instance's time in bench/compare.py's end to end.
    """
    actions = (view_name, f"@@{view_name}")
    required = (providedBy(context), providedBy(request))
    adapters = getSiteManager().adapters  # the site's, as a menu's lookup
    for _menu, item_type in getUtilitiesFor(IMenuItemType):
        for _name, factory in adapters.lookupAll(required, item_type):
            said = factory.kwargs if isinstance(factory, MenuItemFactory) else {}
            if said.get("action") in actions and said.get("title"):
                return kept(said["title"])
    return readable(view_name)


def readable(view_name):
    """A view's name as a title: "@@export-listing" and "export_listing" are "Export listing"."""
    words = re.sub(r"[-_.\s]+", " ", view_name.removeprefix("@@")).strip()
    return words[:1].upper() + words[1:]


def kept(title):
    """``title`` as a record keeps it: an i18n message stays one (its mapping's
    values made text, each cut at ``MAX_LENGTH``: a form may have sent them);
    anything else is made text, cut at ``MAX_LENGTH`` (a message is cut once
    translated). Control characters (CR, LF, tab, ...) become a space: a
    title is one line, in a page's title and in a mail's Subject."""
    if isinstance(title, Message):
        mapping = {
            key: kept(value) if isinstance(value, Message) else _line(value) for key, value in (title.mapping or {}).items()
        }
        return Message(str(title), domain=title.domain, default=title.default, mapping=mapping or None)
    return _line(title)


def _line(value):
    """``value`` as text of one line, at most ``MAX_LENGTH`` characters."""
    return CONTROL.sub(" ", str(value))[:MAX_LENGTH]


def shown(title, request):
    """``title`` as text for the viewer of ``request``: a message translated, cut at ``MAX_LENGTH``."""
    if isinstance(title, Message):
        title = translate(title, context=request)
    return str(title)[:MAX_LENGTH]


def of_process(process, context, request):
    """What the pages call a process's job, translated: the title kept at its
    start (``process``: a record or a ``ProcessStatus``), else the default of
    its view on ``context`` (a process started before jobs had titles)."""
    title = process.title
    if title is None:
        title = default(process.view_name, context, request)
    return shown(title, request)
