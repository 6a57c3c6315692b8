"""``make check``: the in-process tests, in a few zope-testrunner processes at once, each test module in one.

The in-process tests are the test modules of every ``tests`` package under
src/ and demo/src/ but those of a ``system/tests`` package (ZEO servers,
Zope instance subprocesses, RelStorage, Chromium, builds: ``make test``
runs those too). One process more than the machine has cores (a test
often waits: on a job's thread, a grace, Sphinx; measured on two cores,
three processes ended first: 52 s, against 55 s for two and 54 s for four). The modules are shared out so that the
processes end together: by how long each took the last time (``var/check-times.json``,
written after each run from the processes that passed), else by size. The
processes share Chameleon's cache of compiled page templates
(``var/chameleon-cache``, ``CHAMELEON_CACHE``): each would compile Plone's
templates anew, a second of CPU (a changed template has a new digest, so
it is compiled again). Each process's output follows once it ends, without
a line per passing test; pipe it into ``tools/test_summary.py`` for the
count. Exits 1 if a process failed.

``python tools/check.py [-j N] [zope-testrunner arguments ...]``
(``CHECK_JOBS`` too; ``make check TEST_ARGS="-t cancel"``).
"""

from pathlib import Path

import json
import os
import re
import subprocess
import sys
import tempfile


ROOT = Path(__file__).resolve().parents[1]
TEST_PATHS = ("src", "demo/src")
SYSTEM = "system"  # a package of system tests: <package>/tests/system/tests/
TIMES = ROOT / "var" / "check-times.json"
TEMPLATE_CACHE = ROOT / "var" / "chameleon-cache"
RUNNER = Path(sys.executable).parent / "zope-testrunner"
PASSED = re.compile(r"^ +\S+ \((\S+)\) \((\d+\.\d+) s\)$")  # -vvv's line of a passing test


def in_process_modules():
    """The dotted names of the in-process test modules."""
    modules = []
    for test_path in TEST_PATHS:
        top = ROOT / test_path
        for path in sorted(top.rglob("test_*.py")):
            parts = path.relative_to(top).with_suffix("").parts
            if parts[-2] != "tests" or SYSTEM in parts or not (path.parent / "__init__.py").exists():
                continue
            modules.append(".".join(parts))
    return modules


def shares(modules, jobs, times):
    """``modules`` shared out into ``jobs`` lists of about equal time, longest first."""
    def cost(module):
        if module in times:
            return times[module]
        test_path = next(p for p in TEST_PATHS if (ROOT / p / (module.replace(".", "/") + ".py")).exists())
        return (ROOT / test_path / (module.replace(".", "/") + ".py")).stat().st_size / 10_000  # ~s
    loads = [[0.0, []] for _ in range(jobs)]
    for module in sorted(modules, key=cost, reverse=True):
        lightest = min(loads, key=lambda load: load[0])
        lightest[0] += cost(module)
        lightest[1].append(module)
    return [sorted(load[1]) for load in loads if load[1]]


def main(argv):
    jobs = int(os.environ.get("CHECK_JOBS") or (os.cpu_count() or 1) + 1)
    if argv[:1] == ["-j"]:
        jobs, argv = int(argv[1]), argv[2:]
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    environment = dict(os.environ)
    if not environment.get("CHAMELEON_CACHE"):
        TEMPLATE_CACHE.mkdir(parents=True, exist_ok=True)
        environment["CHAMELEON_CACHE"] = str(TEMPLATE_CACHE)
    processes = []
    for share in shares(in_process_modules(), jobs, times):
        filters = [argument for module in share for argument in ("-m", f"^{re.escape(module)}$")]
        command = [str(RUNNER), *(f"--test-path={p}" for p in TEST_PATHS), "-vvv", *filters, *argv]
        output = tempfile.TemporaryFile("w+")  # not a pipe: a full one would stop its process
        processes.append((subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT), output))
    failed, took = False, {}
    for process, output in processes:  # each one's output whole, once it ends: never two interleaved
        process.wait()
        output.seek(0)
        its = {}
        for line in output:
            if match := PASSED.match(line.rstrip("\n")):
                module = match[1].rsplit(".", 2)[0]
                its[module] = its.get(module, 0.0) + float(match[2])
            else:
                sys.stdout.write(line)
        if process.returncode == 0:  # a failed process's times may be a hang's or a timeout's
            took.update(its)
        sys.stdout.flush()
        output.close()
        failed = failed or process.returncode != 0
    if took and not argv:  # a whole run's times: the next run shares by them
        TIMES.parent.mkdir(exist_ok=True)
        TIMES.write_text(json.dumps({**times, **took}, indent=1, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
