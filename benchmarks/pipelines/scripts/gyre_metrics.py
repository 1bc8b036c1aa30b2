"""Timed gyre tracking calls, run in a fresh process by ``tracking.py``; prints one JSON line.

    python gyre_metrics.py log N        # N single log_metric calls inside start_run
    python gyre_metrics.py history RUN_ID KEY

The workspace comes from ``GYRE_URI`` (and ``GYRE_ARTIFACTS`` for PostgreSQL).
"""

from __future__ import annotations

import json
import sys
import time

import gyre
from gyre import config
from gyre.store import metrics, open_store

KEY = "loss"


def log(count: int) -> dict[str, object]:
    """``count`` single ``log_metric`` calls, end to end: the run is created, the points are
    written and the run is closed (the final flush happens at block exit)."""
    start_run, log_metric = gyre.start_run, gyre.log_metric  # imports happen before timing
    started = time.perf_counter()
    with start_run(experiment="bench", name="log-metric") as run:
        for step in range(count):
            log_metric(KEY, 1.0 / (step + 1), step=step)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "run_id": run.run_id}


def history(run_id: str, key: str) -> dict[str, object]:
    """Read back one metric's whole history; the store is opened before timing."""
    store = open_store(config.resolve())
    started = time.perf_counter()
    with store.read() as conn:
        points = metrics.history(conn, run_id, key)
    seconds = time.perf_counter() - started
    store.close()
    return {"seconds": seconds, "points": len(points)}


def main(argv: list[str]) -> None:
    if argv[0] == "log":
        out = log(int(argv[1]))
    elif argv[0] == "history":
        out = history(argv[1], argv[2])
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}: use log or history")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
