"""The documentation builds (``make docs``): Sphinx, offline, without a warning."""

from pathlib import Path

import subprocess
import sys
import tempfile
import unittest


DOCS = Path(__file__).resolve().parents[4] / "docs"
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
