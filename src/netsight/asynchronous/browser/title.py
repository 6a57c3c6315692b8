"""Plone's browser title on the add-on's pages: theirs, then the site's."""

from html import escape
from plone.app.layout.viewlets.common import TitleViewlet


class OwnPageTitle(TitleViewlet):
    """``plone.htmlhead.title`` for a view providing IOwnPage."""

    def update(self):
        self.site_title = self.sep.join((escape(self.view.page_title), escape(self.site_title_setting)))
