"""The documentation builds (``make docs``): Sphinx, offline, without a warning; its map is the code's."""

from pathlib import Path

import importlib.util
import subprocess
import sys
import tempfile
import unittest


DOCS = Path(__file__).resolve().parents[4] / "docs"
ARCHITECTURE_TOOL = DOCS.parent / "tools" / "architecture.py"  # writes docs/architecture.rst's generated parts
PACKAGE = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds; the build takes a few


def documented_modules():
    """The dotted names of the package's modules (not the tests, not empty packages)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
        if "tests" in parts:
            continue
        if parts[-1] == "__init__":
            if not path.read_text(encoding="utf-8").strip():  # an empty package: nothing to show
                continue
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


@unittest.skipUnless((DOCS / "conf.py").exists(), "no docs/ beside src/ (an installed copy)")
class TestDocs(unittest.TestCase):
    def test_the_docs_build_without_warnings(self):
        with tempfile.TemporaryDirectory(prefix="netsight-async-docs-") as out:
            html = Path(out) / "html"
            command = [
                sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
                "-d", str(Path(out) / "doctrees"), str(DOCS), str(html),
            ]
            # As `make docs` runs it (no intersphinx: nothing reaches the network).
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
            self.assertEqual(
                done.returncode, 0, f"sphinx-build failed ({done.returncode}):\n{done.stderr}\n{done.stdout}"
            )
            for page in ("index", "quickstart", "tutorial", "api", "json", "states", "upgrading"):
                self.assertTrue((html / f"{page}.html").exists(), f"{page}.html was not built")
            api = (html / "api.html").read_text(encoding="utf-8")
            self.assertIn('id="netsight.asynchronous.BaseAsyncView"', api)
            self.assertIn("set_progress", api)

    def test_the_examples_compile(self):
        """The tutorial's code (docs/examples/*.py, which it includes) is Python."""
        for path in sorted((DOCS / "examples").glob("*.py")):
            compile(path.read_text(encoding="utf-8"), str(path), "exec")

    def test_each_module_is_in_the_api_reference(self):
        api = (DOCS / "api.rst").read_text(encoding="utf-8")
        missing = [name for name in documented_modules() if f"automodule:: {name}\n" not in api]
        self.assertEqual(missing, [], "add an `.. automodule::` for each of these to docs/api.rst")


def architecture_tool():
    """tools/architecture.py, imported (tools/ is no package)."""
    spec = importlib.util.spec_from_file_location("netsight_async_architecture_tool", ARCHITECTURE_TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@unittest.skipUnless(ARCHITECTURE_TOOL.exists(), "no tools/ beside src/ (an installed copy)")
class TestArchitectureMap(unittest.TestCase):
    """docs/architecture.rst's generated parts are what tools/architecture.py writes from the code now."""

    def test_each_generated_part_is_the_codes(self):
        tool = architecture_tool()
        written = tool.written_parts((DOCS / "architecture.rst").read_text(encoding="utf-8"))
        for name, part in tool.generated_parts().items():
            with self.subTest(part=name):
                self.assertIn(name, written, f"docs/architecture.rst has no markers for {name!r}")
                self.assertEqual(
                    written[name], part,
                    f"docs/architecture.rst's {name!r} is not what the code says: "
                    "run .venv/bin/python tools/architecture.py",
                )

    def test_the_map_shows_a_changed_import(self):
        """A new import moves the arrows and floors the map shows (the tool reads the code, not the map)."""
        tool = architecture_tool()
        found = tool.modules()
        at_import, _deferred = tool.imports(found)
        floor, _cycles = tool.floors(at_import)
        top = max(found, key=lambda name: floor[name])
        at_import["settings"] = {*at_import["settings"], top}  # settings importing the top floor: a cycle
        floor, cycles = tool.floors(at_import)
        self.assertTrue(any("settings" in group and top in group for group in cycles))
        self.assertIn(" <-> ", tool.modules_part(found, at_import, floor, cycles))

