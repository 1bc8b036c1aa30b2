"""Data benchmark: ``gyre data add`` side by side with ``dvc add`` and the sha256 bound.

    .venv/bin/python benchmarks/data/run.py [--quick] [--reps N] [--cold]

Inputs (generated once into .bench-cache/data/): 10,000 files of 20 KB and one 1 GB file
(``--quick``: 1,000 files and 100 MB, one repetition; otherwise 5 repetitions). For each input
and tool: the first add in a fresh workspace, then the same add again (must register nothing
new). See README.md.

Prints a table, then as its last line one JSON object:
``{"benchmark": "data", "figures": {...}, "ratios": {...}}`` (ratios > 1: gyre ahead).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report
from inputs import file_set, large_file
from processes import can_drop_caches
from suite import Conditions, run_suite
from tools import Dvc, DvcHardlink, Gyre, GyreLinked, Tool

DEFAULT_REPS = 5  # a median of 5: other work shares this 2-core machine


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 repetition, 1,000 small files and a 100 MB file"
    )
    parser.add_argument(
        "--reps", type=int, help=f"repetitions per measurement (default {DEFAULT_REPS})"
    )
    parser.add_argument(
        "--no-link", action="store_true", help="skip the link modes (gyre --link, DVC hardlink)"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="empty the page cache before each timed command instead of warming the input "
        "(needs root)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    reps = args.reps or (1 if args.quick else DEFAULT_REPS)
    if args.cold and not can_drop_caches():
        print("--cold needs to write /proc/sys/vm/drop_caches (root); it cannot here.")
        return 2
    conditions = Conditions(reps=reps, cold=args.cold)
    load_before = os.getloadavg()[0]
    print("preparing inputs and tools ...", flush=True)
    items = (
        [file_set(1_000, 20), large_file(100)]
        if args.quick
        else [file_set(10_000, 20), large_file(1024)]
    )
    dvc = Dvc()
    tools: list[Tool] = [Gyre(), dvc]
    if not args.no_link:
        tools += [GyreLinked(), DvcHardlink()]
    samples = run_suite(items, tools, conditions)
    figures = report.figures(items, samples)
    ratios = report.ratios(figures)
    load = (load_before, os.getloadavg()[0])
    report.print_table(items, figures, ratios, report.describe(conditions, dvc.version, load))
    print(report.summary(figures, ratios), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
