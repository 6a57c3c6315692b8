"""The values a start posted, posted back to the form by the pages' "Back to the form" button.

A process keeps them in its record (``ProcessRecord.form_values``), made at
its start by ``kept_values``, so that the processing page and the failure
page lead back to the form as it was filled in; the pages of a refused start
take them from their own request. They never go into a URL: "Back to the
form" is a small form that POSTs them to the view as hidden inputs, with the
marker ``MARKER``; ``BaseAsyncView.__call__`` then renders its form, never
starts a job, and a template fills its inputs from the request,
``request.form.get("n")``. Only the process's owner gets them
(``StatusPages.back_values``): a Manager's button posts the marker alone.
The record forgets them once the result is taken (``registry.take``).

Kept are text and numbers (and lists of them, posted back as ``name:list``),
under the names Zope filed them under; never a credential (``scrub``: the
login fields, the session ticket, the CSRF token, the site's own names),
never a name that looks secret (``scrub.looks_secret``: "password", "api_key",
"cardNumber", "newPassword2", ...), never a file upload or a record, and no more than
``MAX_LENGTH`` characters in all: a field that would go past it is left
out. A view narrows them with ``BaseAsyncView.form_fields``.
"""

from netsight.asynchronous import scrub


#: The hidden field that says a POST is "Back to the form": it starts nothing.
MARKER = "_netsight_async_back"
#: The most characters kept, names and values together.
MAX_LENGTH = 2000
#: The values kept: what a text input, a checkbox or a select posts, and
#: what Zope's converters (``:int``, ``:float``, ``:boolean``) make of it.
PLAIN = (str, int, float)
def is_back(request):
    """Whether ``request`` is a "Back to the form" POST (it carries ``MARKER``)."""
    form = getattr(request, "form", None) or {}
    return MARKER in form


def kept_values(request, fields=None, site_names=None):
    """``request.form``'s plain values that "Back to the form" may post again,
    as ``(name, text)`` pairs (a list's items each under ``name:list``).

    ``fields``: the names kept (a view's ``form_fields``); None, every one.
    ``site_names``: the site's own credential names (``scrub.site_login_names``),
    if the caller has them already; else they are read.
    """
    form = getattr(request, "form", None) or {}
    extra = scrub.site_login_names(request) if site_names is None else site_names
    pairs, length = [], 0
    for name, value in form.items():
        if not isinstance(name, str) or not name or name == MARKER or scrub.is_credential(name, extra) or scrub.looks_secret(name):
            continue
        if fields is not None and name not in fields:
            continue
        many = isinstance(value, (list, tuple))
        values = value if many else [value]
        if not values or not all(isinstance(item, PLAIN) for item in values):
            continue
        key = f"{name}:list" if many else name  # read back as a list, one item or more
        added = [(key, _text(item)) for item in values]
        size = sum(len(key) + len(text) for key, text in added)
        if length + size > MAX_LENGTH:
            continue
        pairs.extend(added)
        length += size
    return tuple(pairs)


def _text(value):
    if isinstance(value, bool):  # :boolean's True or False, as a checkbox posts it
        return "on" if value else ""
    return str(value)
