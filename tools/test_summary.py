"""Close a zope-testrunner run with the line 'N passed, N failed, N skipped'.

Reads the runner's output on stdin and echoes it, adding up the runner's
per-layer lines ("Ran 12 tests with 0 failures, 1 errors and 0 skipped").
Exits non-zero if a test failed, if the runner did, or if no test ran.
"""

import re
import sys


RAN = re.compile(  # searched anywhere in a line: a test's own output may precede it
    r"\bRan (\d+) tests? with (\d+) failures?, (\d+) errors?(?:,? and (\d+) skipped)?"
)

tests = failed = skipped = 0
for line in sys.stdin:
    sys.stdout.write(line)
    sys.stdout.flush()
    if match := RAN.search(line):
        tests += int(match[1])
        failed += int(match[2]) + int(match[3])
        skipped += int(match[4] or 0)

runner_status = int(sys.argv[1]) if len(sys.argv) > 1 else 0
print(f"{tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or not tests or runner_status else 0)
