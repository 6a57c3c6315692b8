"""Interfaces of netsight.async."""

from zope.interface import Interface


class INetsightAsyncLayer(Interface):
    """Browser layer, installed by the ``netsight.async:default`` profile.

    Register overrides of the stock pages (the processing template, say)
    for this layer so that they apply only where the add-on is installed.
    """


class IOwnPage(Interface):
    """A BaseAsyncView rendering one of the add-on's pages (processing, refused).

    Its ``page_title`` is the browser title of the page (in Plone: before
    the site's title).
    """
