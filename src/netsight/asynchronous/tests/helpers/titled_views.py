"""Test views with a job title of their own (test_job_title.py): text, an i18n message, a method, a menu item's."""

from netsight.asynchronous.i18n import _
from netsight.asynchronous.tests.helpers.views import Gate
from zope.i18nmessageid import Message


class TitledText(Gate):
    """A gate job called by plain text, which holds markup that must stay text."""

    title = "Export <b>all</b> the listing"


class TitledMessage(Gate):
    """A gate job called by an i18n message, translated for each viewer."""

    title = _("my_processes", default="My processes")


class TitledByForm(Gate):
    """A gate job whose title is computed from the starting request's form."""

    def title(self):
        return f"Computing F({self.request.form.get('n', '?')})"


class TitledByFormMessage(Gate):
    """A gate job whose title is an i18n message whose mapping holds what the form sent."""

    def title(self):
        return Message("Computing F(${n})", domain="netsight.async.tests", mapping={"n": self.request.form.get("n", "?")})


class TitledByMenu(Gate):
    """A gate job without a title of its own: its ZCML gives it a menu item's."""
