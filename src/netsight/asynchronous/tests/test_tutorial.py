"""The tutorial's own test (docs/examples/test_export.py) runs here, on its view and ZCML."""

from pathlib import Path

import importlib
import importlib.util
import sys


EXAMPLES = Path(__file__).resolve().parents[4] / "docs" / "examples"
PACKAGE = "netsight_async_tutorial"  # the tutorial's package, by a name of its own


def tutorial_module(name):
    """A module of docs/examples, imported as a submodule of PACKAGE."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            PACKAGE, EXAMPLES / "__init__.py", submodule_search_locations=[str(EXAMPLES)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{PACKAGE}.{name}")


if EXAMPLES.is_dir():  # a source checkout (an installed package has no docs/)
    TestExport = tutorial_module("test_export").TestExport
