"""Write docs/architecture.rst's generated parts from the code: modules, imports, states, private APIs, upgrades, tests.

``python tools/architecture.py`` rewrites what lies between each pair of
markers in docs/architecture.rst::

    .. generated: NAME (tools/architecture.py; do not edit)
    ...
    .. end generated: NAME

``--check`` writes nothing and exits 1 if a part is not what the code says
now; tests/test_docs.py does the same. The parts:

``modules``
    Every module of ``netsight.asynchronous`` but the tests, on its floor,
    with its docstring's first paragraph and the modules it imports when
    it is imported. Floor 0 imports no module of the package; a module's
    floor is one above the highest it imports, so every such arrow points
    down. Read from the source (``ast``), nothing is imported.
``deferred``
    The imports inside functions, made when the function runs: the ones
    that point up or sideways (to a module on the same or a higher floor)
    are the climbs back up that the floors would otherwise forbid.
``states``
    The states of a process, from the enum ``ProcessState``
    (``processes/state.py``), or ``registry.STATES`` where there is none.
``private``
    The functions of ``internals.py``: Zope's private APIs, one each.
``upgrades``
    The profile's version (``profiles/default/metadata.xml``) and its
    upgrade steps (``profiles.zcml``).
``tests``
    The test modules, in-process and system, and the helpers, each with
    its docstring's first paragraph.
"""

from pathlib import Path

import argparse
import ast
import importlib
import re
import sys
import textwrap
import xml.etree.ElementTree as ElementTree


ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "netsight" / "asynchronous"
DOTTED = "netsight.asynchronous"
DOCUMENT = ROOT / "docs" / "architecture.rst"
PROFILES = ROOT / "src" / "netsight" / "async"  # the 2011 names: the ZCML of the profiles
TESTS = PACKAGE / "tests"
GENERIC_SETUP = "{http://namespaces.zope.org/genericsetup}"
SKIPPED = ("tests",)  # packages of the package that are not the architecture
WIDTH = 100  # of a line in the literal blocks
NAME_COLUMN = 24

BEGIN = ".. generated: {} (tools/architecture.py; do not edit)"
END = ".. end generated: {}"
MARKERS = re.compile(
    r"^\.\. generated: (?P<name>[\w-]+) \(tools/architecture\.py; do not edit\)\n"
    r"(?P<body>.*?)"
    r"^\.\. end generated: (?P=name)\n",
    re.DOTALL | re.MULTILINE,
)


def summary(docstring):
    """A docstring's first paragraph, on one line ("" for none)."""
    return " ".join((docstring or "").strip().split("\n\n")[0].split())


class Module:
    """One module of the package, as its source says."""

    def __init__(self, name, path):
        self.name = name  # dotted, relative to the package: "registry", "browser.manage"; "" the package
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        self.summary = summary(ast.get_docstring(self.tree))
        self.is_package = path.name == "__init__.py"

    @property
    def label(self):
        return self.name or DOTTED


def modules(package=PACKAGE):
    """The package's modules by name, the tests and empty ``__init__.py`` left out."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[0] in SKIPPED:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
            if parts and not path.read_text(encoding="utf-8").strip():
                continue
        found[".".join(parts)] = Module(".".join(parts), path)
    return found


def _target(found, dotted):
    """The module of ours that ``dotted`` (absolute, a module or a name in one) is or is in."""
    if dotted != DOTTED and not dotted.startswith(DOTTED + "."):
        return None
    name = dotted[len(DOTTED) + 1:]
    if name.split(".")[0] in SKIPPED:
        return None
    while name not in found:
        if "." not in name:
            return "" if "" in found else None
        name = name.rsplit(".", 1)[0]
    return name


def _absolute(module, node):
    """The absolute dotted name of a ``from ... import`` statement's module."""
    if not node.level:
        return node.module or ""
    base = (DOTTED + "." + module.name).rstrip(".") if module.name else DOTTED
    parts = base.split(".")
    if not module.is_package:
        parts = parts[:-1]
    if node.level > 1:
        parts = parts[: -(node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


class _Imports(ast.NodeVisitor):
    """The package's modules that one module imports, at its import or in its functions."""

    def __init__(self, found, module):
        self.found, self.module = found, module
        self.at_import, self.deferred = set(), {}  # deferred: target -> the functions
        self.function = []

    def _note(self, dotted):
        target = _target(self.found, dotted)
        if target is None or target == self.module.name:
            return
        if self.function:
            self.deferred.setdefault(target, set()).add(".".join(self.function))
        else:
            self.at_import.add(target)

    def visit_Import(self, node):
        for alias in node.names:
            self._note(alias.name)

    def visit_ImportFrom(self, node):
        base = _absolute(self.module, node)
        for alias in node.names:
            self._note(f"{base}.{alias.name}" if alias.name != "*" else base)

    def visit_Call(self, node):  # importlib.import_module("netsight.asynchronous.x")
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called == "import_module" and node.args and isinstance(node.args[0], ast.Constant):
            if isinstance(node.args[0].value, str):
                self._note(node.args[0].value)
        self.generic_visit(node)

    def _in_function(self, node):
        self.function.append(node.name)
        self.generic_visit(node)
        self.function.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _in_function

    def visit_ClassDef(self, node):  # a class body runs at import; its methods do not
        if self.function:
            return self._in_function(node)
        outer, self.function = self.function, []
        for child in node.body:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.function = [node.name]
                self._in_function(child)
                self.function = []
            else:
                self.visit(child)
        self.function = outer


def imports(found):
    """Each module's imports: ({module: set at import}, {module: {target: functions}})."""
    at_import, deferred = {}, {}
    for name, module in found.items():
        visitor = _Imports(found, module)
        visitor.visit(module.tree)
        at_import[name], deferred[name] = visitor.at_import, visitor.deferred
    return at_import, deferred


def floors(at_import):
    """Each module's floor: 0 if it imports none of ours, else one above the highest it imports.

    A cycle (modules that import each other when imported) shares one
    floor; ``cycles`` names them.
    """
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(name):  # Tarjan's strongly connected components, iteratively
        work = [(name, iter(sorted(at_import[name])))]
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(at_import[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)

    for name in sorted(at_import):
        if name not in index:
            connect(name)
    floor, group_of = {}, {}
    for number, group in enumerate(groups):  # Tarjan ends a group after every group it reaches
        for member in group:
            group_of[member] = number
        below = [floor[target] for member in group for target in at_import[member] if target not in group]
        for member in group:
            floor[member] = max(below, default=-1) + 1
    cycles = sorted(sorted(group) for group in groups if len(group) > 1)
    return floor, cycles


def _wrapped(first, rest, indent):
    """``first`` then ``rest`` wrapped to WIDTH, the lines after the first indented."""
    return textwrap.wrap(
        f"{first}{rest}", WIDTH, subsequent_indent=" " * indent, break_on_hyphens=False, break_long_words=False
    )


def modules_part(found, at_import, floor, cycles):
    lines = [
        "::",
        "",
        f"  {'module':<{NAME_COLUMN}}what it is (its docstring); -> the modules it imports when it is imported",
    ]
    for number in range(max(floor.values(), default=-1) + 1):
        names = sorted((name for name in found if floor[name] == number), key=lambda name: name.split("."))
        lines += ["", f"  floor {number}" + ("  (imports no module of the package)" if number == 0 else "")]
        for name in names:
            module = found[name]
            label = module.label + ("/" if module.is_package and module.name else "")
            if len(label) >= NAME_COLUMN - 3:
                lines.append(f"    {label}")
                label = ""
            lines += _wrapped(f"    {label:<{NAME_COLUMN - 2}}", module.summary or "(no docstring)", NAME_COLUMN + 2)
            if at_import[name]:
                targets = ", ".join(found[target].label for target in sorted(at_import[name]))
                lines += _wrapped(" " * (NAME_COLUMN + 2) + "-> ", targets, NAME_COLUMN + 5)
    if cycles:
        lines += ["", "  cycles (modules that import each other when imported):"]
        lines += [f"    {' <-> '.join(found[name].label for name in group)}" for group in cycles]
    return "\n".join(lines) + "\n"


def deferred_part(found, deferred, floor):
    climbs, others = [], []
    for name in sorted(deferred, key=lambda name: name.split(".")):
        for target in sorted(deferred[name]):
            where = ", ".join(sorted(deferred[name][target]))
            line = f"  {found[name].label} -> {found[target].label}  ({where})"
            (climbs if floor[target] >= floor[name] else others).append(line)
    lines = []
    if climbs:
        lines += ["Up or sideways (to a module on the same or a higher floor)::", ""] + climbs + [""]
    else:
        lines += ["No import inside a function climbs back up.", ""]
    if others:
        lines += ["Down (the floors allow them at import; made late on purpose)::", ""] + others + [""]
    return "\n".join(lines)


def states_part():
    """The states, from ProcessState if the package has it, else registry.STATES."""
    if str(ROOT / "src") not in sys.path:
        sys.path.insert(0, str(ROOT / "src"))
    try:
        enum = importlib.import_module(f"{DOTTED}.processes.state").ProcessState
    except ImportError:
        registry = importlib.import_module(f"{DOTTED}.registry")
        states = list(registry.STATES)
        active = [state for state in states if state in registry.ACTIVE]
        source = "``registry.STATES`` (``registry.py``)"
    else:
        states = [member.value for member in enum]
        active = [member.value for member in enum if not member.is_finished]
        source = "the enum ``ProcessState`` (``processes/state.py``)"
    finished = [state for state in states if state not in active]
    return (
        f"From {source}:\n\n"
        f"- active: {', '.join(f'*{state}*' for state in active)}\n"
        f"- finished: {', '.join(f'*{state}*' for state in finished)}\n"
    )


def _summary_of(path):
    return summary(ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"), str(path)))) or "(no docstring)"


def _touches(node, imported):
    """The outside names a function of internals.py reaches: imported ones, private or written attributes."""
    imported = dict(imported)
    for child in ast.walk(node):  # its own imports too
        if isinstance(child, ast.ImportFrom) and child.module and not child.level:
            imported.update({alias.asname or alias.name: f"{child.module}.{alias.name}" for alias in child.names})
        elif isinstance(child, ast.Import):
            imported.update({alias.asname or alias.name: alias.name for alias in child.names})
    touched = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name):
            private = child.attr.startswith("_") and not child.attr.startswith("__")
            written = isinstance(child.ctx, ast.Store)
            if child.value.id in imported:
                touched.add(f"{imported[child.value.id]}.{child.attr}")
            elif private or written:
                touched.add(f"{child.value.id}.{child.attr}")
        elif isinstance(child, ast.Name) and child.id in imported and isinstance(child.ctx, ast.Load):
            touched.add(imported[child.id])
    touched = {name for name in touched if not name.startswith(DOTTED)}
    return sorted(name for name in touched if not any(other.startswith(name + ".") for other in touched))


def private_part(found):
    """Each public function or class of internals.py: its docstring's first paragraph, what of Zope it reaches."""
    module = found["internals"]
    imported = {}
    for node in module.tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
        elif isinstance(node, ast.Import):
            imported.update({alias.asname or alias.name: alias.name for alias in node.names})
    lines = []
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            docstring = summary(ast.get_docstring(node)) or "(no docstring)"
            touches = ", ".join(f"``{name}``" for name in _touches(node, imported))
            lines += _wrapped("- ", f"``internals.{node.name}``: {docstring}" + (f" ({touches})" if touches else ""), 2)
    return "\n".join(lines) + "\n"


def upgrades_part():
    """The default profile's version and its upgrade steps, as profiles.zcml registers them."""
    version = ElementTree.parse(PROFILES / "profiles" / "default" / "metadata.xml").findtext("version").strip()
    steps = []
    for element in ElementTree.parse(PROFILES / "profiles.zcml").getroot():
        if element.tag in (GENERIC_SETUP + "upgradeStep", GENERIC_SETUP + "upgradeDepends"):
            if element.get("profile") == "netsight.async:default":
                steps.append((element.get("source"), element.get("destination"), element.get("title")))
    lines = [f"The profile ``netsight.async:default`` is at version {version}; its upgrade steps::", ""]
    for source, destination, title in sorted(steps, key=lambda step: int(step[1])):
        lines += _wrapped(f"  {source:>4} -> {destination:<6}", title, 16)
    return "\n".join(lines) + "\n"


def tests_part():
    """The test modules and helpers, by kind, with their docstrings' first paragraphs."""
    kinds = (
        ("tests/", "in-process tests (``make check``)", TESTS, "test_*.py"),
        ("tests/system/tests/", "system tests (``make test`` only)", TESTS / "system" / "tests", "test_*.py"),
        ("tests/helpers/", "what the tests share", TESTS / "helpers", "*.py"),
    )
    lines = ["::", ""]
    for label, says, directory, pattern in kinds:
        lines += [f"  {label}  {says}"]
        for path in sorted(directory.glob(pattern)):
            if path.name == "__init__.py":
                continue
            name = path.stem
            if len(name) >= NAME_COLUMN + 2:
                lines.append(f"    {name}")
                name = ""
            lines += _wrapped(f"    {name:<{NAME_COLUMN + 2}}", _summary_of(path), NAME_COLUMN + 6)
        lines.append("")
    return "\n".join(lines)


def generated_parts():
    """The generated parts as the code says now: {name: text}."""
    found = modules()
    at_import, deferred = imports(found)
    floor, cycles = floors(at_import)
    return {
        "modules": modules_part(found, at_import, floor, cycles),
        "deferred": deferred_part(found, deferred, floor),
        "states": states_part(),
        "private": private_part(found),
        "upgrades": upgrades_part(),
        "tests": tests_part(),
    }


def written_parts(text):
    """The generated parts as a document has them: {name: text}."""
    return {match["name"]: _unframed(match["body"]) for match in MARKERS.finditer(text)}


def _unframed(body):
    """A part as written, without the blank lines that frame it (reST wants them round a comment)."""
    return body[1:-1] if body.startswith("\n") and body.endswith("\n\n") else body


def rewrite(text, parts):
    """The document with each part between its markers replaced by ``parts``' (a part it lacks stays)."""

    def replace(match):
        name = match["name"]
        body = parts.get(name, _unframed(match["body"]))
        return f"{BEGIN.format(name)}\n\n{body}\n{END.format(name)}\n"

    return MARKERS.sub(replace, text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a part is out of date")
    args = parser.parse_args(argv)
    text = DOCUMENT.read_text(encoding="utf-8")
    parts = generated_parts()
    missing = sorted(set(parts) - set(written_parts(text)))
    if missing:
        print(f"{DOCUMENT}: no markers for {', '.join(missing)}", file=sys.stderr)
        return 1
    new = rewrite(text, parts)
    if args.check:
        if new != text:
            print(f"{DOCUMENT} is out of date: run python tools/architecture.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        DOCUMENT.write_text(new, encoding="utf-8")
        print(f"{DOCUMENT} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
