"""One table of figures for the benchmarks: measure, figure, baseline, ratio, goal, met.

The table is printed as a reStructuredText simple table, so that a run can
be pasted into docs/performance.rst as it is.
"""

import os
import platform


class Row:
    """One measure: its figure, the baseline it is compared to, their ratio, the goal, and whether it is met.

    ``ratio`` is a number or None (no ratio); ``met`` True, False, or None
    (no goal, or nothing to judge).
    """

    def __init__(self, measure, figure, baseline="", ratio=None, goal="", met=None):
        self.measure = measure
        self.figure = figure
        self.baseline = baseline
        self.ratio = ratio
        self.goal = goal
        self.met = met

    def cells(self):
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}"
        met = {True: "yes", False: "NO", None: ""}[self.met]
        return [self.measure, self.figure, self.baseline or "", ratio, self.goal or "", met]


HEADER = ["measure", "figure", "baseline", "ratio", "goal", "met"]


def table(rows):
    """The rows as an RST simple table (a string, without a final newline)."""
    return grid(HEADER, [row.cells() for row in rows])


def grid(header, lines):
    """An RST simple table of ``header`` and ``lines`` (lists of strings; the first column must not be empty)."""
    lines = [header, *lines]
    widths = [max(len(line[column]) or 1 for line in lines) for column in range(len(header))]
    rule = "  ".join("=" * width for width in widths)

    def line(cells):
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return "\n".join([rule, line(header), rule, *(line(cells) for cells in lines[1:]), rule])


def machine():
    """One line: the Python, the CPUs and the system this ran on."""
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}"
    )


MiB = 1 << 20


def mebibytes(count):
    """Bytes as MiB, one decimal."""
    return f"{count / MiB:.1f} MiB"
