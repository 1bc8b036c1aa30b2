"""gyre's side, run in gyre's ``.venv``. Two modes:

``gyre_side.py BASELINE CURRENT [--reps N]``: ``gyre.drift(baseline, current)`` on the two
pyarrow Tables as ``pyarrow.parquet.read_table`` returns them (not timed: the reading). Timed:
the call, from the Tables in memory to the report; the drifted columns are
``report.drifted_features``. Measured as every peer is (``child.py``).

``gyre_side.py --backfill BASELINE [--hours 720] [--rows 10000]``: the baseline Table
prepared once (``gyre.monitoring.Baseline.prepare``, timed), then one hourly window after
another compared with it (``baseline.compare(window)``, each call timed). Each window is a fresh
sample of ``--rows`` rows from ``data.window`` (generated before its call, not timed); from hour
``hours // 2`` on the windows carry the benchmark's 5 drifts. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import child
import data
import pyarrow.parquet as pq

import gyre
from gyre.monitoring import Baseline


def load(baseline: Path, current: Path) -> tuple[Any, Any, dict[str, Any]]:
    tables = pq.read_table(baseline), pq.read_table(current)
    return *tables, {"arrow_nbytes": sum(t.nbytes for t in tables)}


def detect(baseline: Any, current: Any) -> Any:
    return gyre.drift(baseline, current)


def found(report: Any) -> tuple[list[str], dict[str, Any]]:
    return list(report.drifted_features), {"dataset_drifted": report.drifted}


def backfill(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("baseline", type=Path)
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    table = pq.read_table(args.baseline)
    started = time.perf_counter()
    baseline = Baseline.prepare(table)
    prepare_s = time.perf_counter() - started
    onset = args.hours // 2
    compares: list[float] = []
    flagged = {"before": 0, "after": 0}  # windows with at least one drifted feature
    dataset = {"before": 0, "after": 0}  # windows whose dataset verdict is drifted
    hits: dict[str, int] = {}  # after the onset: windows in which each column was found
    false: dict[str, int] = {}  # before the onset: windows in which each column was found
    for hour in range(args.hours):
        window = data.window(hour, args.rows, drift=hour >= onset)
        started = time.perf_counter()
        report = baseline.compare(window)
        compares.append(time.perf_counter() - started)
        half = "after" if hour >= onset else "before"
        columns = report.drifted_features
        flagged[half] += bool(columns)
        dataset[half] += bool(report.drifted)
        for column in columns:
            counts = hits if half == "after" else false
            counts[column] = counts.get(column, 0) + 1
    compares.sort()
    print(
        child.json.dumps(
            {
                "tool": "gyre-backfill",
                "hours": args.hours,
                "rows": args.rows,
                "onset_hour": onset,
                "prepare_s": prepare_s,
                "compare_total_s": sum(compares),
                "compare_median_s": compares[len(compares) // 2],
                "compare_max_s": compares[-1],
                "windows_flagged": flagged,
                "windows_dataset_drifted": dataset,
                "found_after_onset": hits,
                "found_before_onset": false,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--backfill"]:
        backfill(sys.argv[2:])
    else:
        child.measure("gyre", child.arguments(__doc__), load, detect, found)
