"""Sphinx configuration of the netsight.async documentation (``make docs``).

Everything is local: no intersphinx, no image or theme from the network.
The API reference imports the package (and so Zope): build it with the
Python of the virtualenv, ``.venv/bin/python -m sphinx``.
"""

from importlib.metadata import version as distribution_version
from pathlib import Path

import sys


# The code, even if the distribution were not installed (it is, with ``make install``).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

project = "netsight.async"
author = "Richard Mitchell and the netsight.async developers"
copyright = "2011-2026, " + author
release = distribution_version("netsight.async")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

root_doc = "index"
exclude_patterns = ["_build"]
nitpicky = False
language = "en"

# autodoc: the members in the order of the source (api.rst asks for them).
autodoc_member_order = "bysource"
autodoc_typehints = "none"

html_theme = "alabaster"
html_title = f"netsight.async {release}"
html_static_path = []
html_theme_options = {
    "description": "Browser views that run in the background while the browser watches.",
    "fixed_sidebar": False,
    "page_width": "1100px",
    "sidebar_width": "250px",
}
html_show_sourcelink = False


def interface_fields(app, what, name, obj, options, lines):
    """An interface's docstring, then its schema fields (autodoc shows no fields of its own)."""
    try:
        from zope.interface.interface import InterfaceClass
        from zope.schema import getFieldsInOrder
    except ImportError:
        return
    if not isinstance(obj, InterfaceClass):
        return
    fields = getFieldsInOrder(obj)
    if not fields:
        return
    lines.extend(["", "Its fields:", ""])
    for field_name, field in fields:
        title = getattr(field.title, "default", None) or field.title
        description = getattr(field.description, "default", None) or field.description
        required = "required" if field.required else "optional"
        lines.extend([f"``{field_name}`` ({type(field).__name__}, {required})", f"    {title}. {description}", ""])


def setup(app):
    app.connect("autodoc-process-docstring", interface_fields)
