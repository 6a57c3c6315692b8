"""The values a start posted, as the query of the pages' "Back to the form" link.

A process keeps them in its record (``ProcessRecord.form_query``), made at
its start by ``form_query``, so that the processing page, the failure page
and the pages of a refused start lead back to the form as it was filled in
(``StatusPages.form_url``): a template fills its inputs from the request,
``request.form.get("n")``. Kept are text and numbers (and lists of them,
sent back as ``name:list``), under the names Zope filed them under; never a credential (``scrub``: the
login fields, the session ticket, the CSRF token, the site's own names),
never a file upload or a record, and no more than ``MAX_LENGTH`` characters
in all: a field that would go past it is left out. The link is a GET,
which starts nothing (``BaseAsyncView.run_process``: a POST).
"""

from urllib.parse import quote
from urllib.parse import urlencode

from netsight.asynchronous import scrub


#: The longest query kept, in characters (URLs much longer than 2,000
#: characters are refused by some proxies and servers).
MAX_LENGTH = 2000
#: The values a query carries: what a text input, a checkbox or a select
#: posts, and what Zope's converters (``:int``, ``:float``, ``:boolean``) make of it.
PLAIN = (str, int, float)


def form_query(request):
    """The query string of ``request.form``'s plain values, without credentials ('' for none)."""
    form = getattr(request, "form", None) or {}
    extra = scrub.site_login_names(request)
    fields, length = [], 0
    for name, value in form.items():
        if not isinstance(name, str) or scrub.is_credential(name, extra):
            continue
        many = isinstance(value, (list, tuple))
        values = value if many else [value]
        if not values or not all(isinstance(item, PLAIN) for item in values):
            continue
        key = f"{name}:list" if many else name  # read back as a list, one item or more
        encoded = urlencode([(key, _text(item)) for item in values], safe=":", quote_via=quote)
        added = len(encoded) + (1 if fields else 0)
        if length + added > MAX_LENGTH:
            continue
        fields.append(encoded)
        length += added
    return "&".join(fields)


def _text(value):
    if isinstance(value, bool):  # :boolean's True or False, as a checkbox posts it
        return "on" if value else ""
    return str(value)
