"""The URLs of the add-on's browser resources (the script, the images), each with a hash of its content."""

from pathlib import Path
from zope.component.hooks import getSite

import hashlib


BROWSER = Path(__file__).parent / "browser"
DIRECTORIES = {"netsight.async.js": "js", "netsight.async.images": "images"}
_VERSIONS = {}


def resource_url(name, request):
    """The URL of the resource ``name`` ("netsight.async.js/processing.js") on the current site.

    It carries a hash of the file, so that a browser never runs a cached
    script of another version.
    """
    site = getSite()
    base = site.absolute_url() if hasattr(site, "absolute_url") else request["BASE1"]
    return f"{base}/++resource++{name}?v={version(name)}"


def version(name):
    """A short hash of a resource file's content (computed once)."""
    if name not in _VERSIONS:
        directory, _sep, path = name.partition("/")
        file = BROWSER / DIRECTORIES.get(directory, directory) / path
        try:
            digest = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
        except OSError:
            digest = "0"
        _VERSIONS[name] = digest
    return _VERSIONS[name]
