"""Pipelines benchmark: gyre side by side with Metaflow, ZenML, Prefect, DVC and Kedro, plus
gyre's metric tracking against MLflow. See README.md beside this file.

    .venv/bin/python benchmarks/pipelines/run.py [--quick] [--only gyre,dvc,metrics]

Prints a table, then as its last line one JSON object:
``{"benchmark": "pipelines", "figures": {...}, "ratios": {...}}`` (ratios > 1: gyre ahead).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline_runs
import report
import tracking
from measure import become_subreaper
from peers import PEERS
from workloads import WORKLOADS

SECTIONS = [peer.name for peer in PEERS] + ["metrics"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="one repetition, skip the slow peers (ZenML, Prefect)"
    )
    parser.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help=f"comma-separated subset of {','.join(SECTIONS)} (metrics: gyre vs MLflow)",
    )
    parser.add_argument("--reps", type=int, help="repetitions per measurement (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temp projects and logs")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only or []) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; choose from {','.join(SECTIONS)}")
    return args


def say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    chosen = set(args.only or SECTIONS)
    if not become_subreaper():
        print("note: could not become a child subreaper; orphaned processes may go unseen")
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    results = []
    peers = [p for p in PEERS if p.name in chosen and not (args.quick and p.slow)]
    for workload in WORKLOADS:
        if peers:
            results += pipeline_runs.measure(peers, workload, reps, keep=args.keep, progress=say)
    metrics = None
    if "metrics" in chosen:
        say("- metrics: gyre vs MLflow ...")
        metrics = tracking.measure(reps, keep=args.keep, progress=say)
    figures, ratios, best = report.figures_and_ratios(results, metrics)
    lines = report.pipeline_table(results) + report.tracking_table(metrics)
    lines += report.ratio_lines(ratios, best)
    lines.append(
        f"\nTotal {time.perf_counter() - started:.0f} s on {os.cpu_count()} cores; 1-minute load "
        f"average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end."
    )
    print("\n".join(lines))
    print(report.json_line(figures, ratios), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
