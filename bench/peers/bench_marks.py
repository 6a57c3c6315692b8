"""The job's first line, everywhere: append the time now to the file that BENCH_MARKS names.

The peers' job (bench/peers/common.py) and the package's (bench/zope/
netsight_bench) both call ``mark()`` first: bench/compare.py reads the
times back for the pickup latency and the drain rate.
"""

import os
import time


def mark(path=None):
    """Append the time now (seconds since the epoch) as one short line: one write, atomic with O_APPEND."""
    path = path or os.environ.get("BENCH_MARKS")
    if path:
        line = f"{time.time():.6f}\n".encode("ascii")
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


def read_marks(path, offset=0):
    """The times marked in ``path`` after byte ``offset``: ``(times, the new offset)``; only whole lines."""
    try:
        with open(path, "rb") as marks:
            marks.seek(offset)
            data = marks.read()
    except FileNotFoundError:
        return [], offset
    whole = data[: data.rfind(b"\n") + 1]
    return [float(line) for line in whole.split()], offset + len(whole)
