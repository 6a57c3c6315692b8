"""Which frame a page of ours is drawn in: Plone's main template inside a Plone site, else the standalone page."""

from zope.component import queryMultiAdapter

from netsight.asynchronous.owners import site_path
from netsight.asynchronous.paths import physical_path


def in_plone(context, request):
    """Whether a page on ``context`` is drawn in Plone's main template.

    Only on an object of the database inside a Plone site, where Plone's
    main template is found: it renders nothing else (a context without a
    path, such as a browser view or a resource; the Zope root beside a
    Plone site, where ``main_template`` is registered but fails), and plain
    Zope has none. Everywhere else the standalone page serves.
    """
    return (
        physical_path(context) is not None
        and bool(site_path(context))
        and queryMultiAdapter((context, request), name="main_template") is not None
    )
