"""Where an object is: its path in the database, as a record keeps it, and its URL."""

from zope.traversing.browser.absoluteurl import absoluteURL


def physical_path(obj):
    """The path of ``obj`` in the database, as a record keeps it ("/plone/folder");
    None for an object without one of its own (a browser view, a resource, a method)."""
    get_path = getattr(obj, "getPhysicalPath", None)
    if not callable(get_path):
        return None
    try:
        path = get_path()
    except (AttributeError, TypeError):  # acquired from a parent by an object without an id of its own
        return None
    if not isinstance(path, (tuple, list)) or not all(isinstance(part, str) for part in path):
        return None
    return "/".join(path)


def url_of(obj, request):
    """The URL of ``obj``: its ``absolute_url()``, else what its ``absolute_url`` view
    says (a browser view, a resource); "" if it cannot tell."""
    absolute_url = getattr(obj, "absolute_url", None)
    if callable(absolute_url):
        return absolute_url()
    try:
        return absoluteURL(obj, request)
    except TypeError:  # not enough context to tell
        return ""
