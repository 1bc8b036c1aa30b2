"""Timed MLflow tracking calls, run in MLflow's own environment by ``tracking.py``.

    python mlflow_metrics.py init URI
    python mlflow_metrics.py log URI N          # N single mlflow.log_metric calls in a run
    python mlflow_metrics.py fill URI N         # N points via log_batch (set-up, untimed)
    python mlflow_metrics.py history URI RUN_ID KEY

Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

# Runs in MLflow's own environment, which the type checker does not see.
import mlflow  # type: ignore[import-not-found]
from mlflow import MlflowClient
from mlflow.entities import Metric  # type: ignore[import-not-found]

KEY = "loss"
BATCH = 1000


def init(uri: str) -> dict[str, object]:
    """Create the tracking database (MLflow runs its migrations on first contact)."""
    mlflow.set_tracking_uri(uri)
    MlflowClient().search_experiments()
    return {}


def log(uri: str, count: int) -> dict[str, object]:
    """``count`` single ``log_metric`` calls, end to end, like gyre's ``start_run`` block."""
    mlflow.set_tracking_uri(uri)
    started = time.perf_counter()
    with mlflow.start_run(run_name="log-metric") as run:
        for step in range(count):
            mlflow.log_metric(KEY, 1.0 / (step + 1), step=step)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "run_id": run.info.run_id}


def fill(uri: str, count: int) -> dict[str, object]:
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    run = client.create_run("0", run_name="history")
    now = int(time.time() * 1000)
    for first in range(0, count, BATCH):
        batch = [
            Metric(KEY, 1.0 / (s + 1), now, s) for s in range(first, min(first + BATCH, count))
        ]
        client.log_batch(run.info.run_id, metrics=batch)
    client.set_terminated(run.info.run_id)
    return {"run_id": run.info.run_id}


def history(uri: str, run_id: str, key: str) -> dict[str, object]:
    """Read back one metric's history; the client's store is opened before timing."""
    client = MlflowClient(tracking_uri=uri)
    client.get_run(run_id)
    started = time.perf_counter()
    points = client.get_metric_history(run_id, key)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "points": len(points)}


def main(argv: list[str]) -> None:
    mode, uri, rest = argv[0], argv[1], argv[2:]
    if mode == "init":
        out = init(uri)
    elif mode == "log":
        out = log(uri, int(rest[0]))
    elif mode == "fill":
        out = fill(uri, int(rest[0]))
    elif mode == "history":
        out = history(uri, rest[0], rest[1])
    else:
        raise SystemExit(f"unknown mode {mode!r}: use init, log, fill or history")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
