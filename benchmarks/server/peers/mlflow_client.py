"""MLflow's own client code, run unchanged against MLflow's server and against gyre's MLflow
endpoint (``MLFLOW_TRACKING_URI``; ``MLFLOW_TRACKING_TOKEN`` for gyre). Runs in the peer's
environment (``.bench-cache/server/mlflow``).

    python mlflow_client.py log-metric N REPS   # (a): N single log_metric calls, end to end
    python mlflow_client.py training RUNS REPS  # (b): a training script's tracking calls

Prints one JSON line: ``{"seconds": [...], ...}``, one time per rep.
"""

from __future__ import annotations

import json
import math
import sys
import time

import mlflow
from mlflow import MlflowClient

EPOCHS = 20
BATCH_EVERY = 5  # epochs between the batched evaluation metrics


def log_metric_rep(points: int, rep: int) -> float:
    """From start_run until the run has ended and its points read back."""
    mlflow.set_experiment("bench-log-metric")
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"rep-{rep}") as run:
        for step in range(points):
            mlflow.log_metric("loss", math.exp(-step / 1000), step=step)
    stored = len(MlflowClient().get_metric_history(run.info.run_id, "loss"))
    elapsed = time.perf_counter() - started
    if stored != points:
        raise SystemExit(f"run {run.info.run_id}: {stored} points stored, {points} logged")
    return elapsed


def training(runs: int, rep: int) -> tuple[float, int]:
    """An ordinary training script's tracking: params, a metric per epoch, batched evaluation
    metrics, tags, end. The seconds and the calls made."""
    mlflow.set_experiment(f"bench-training-{rep}")
    calls = 1
    started = time.perf_counter()
    for index in range(runs):
        with mlflow.start_run(run_name=f"trial-{index}"):
            mlflow.log_param("C", 0.5 + index)
            mlflow.log_params({"penalty": "l2", "solver": "lbfgs", "max_iter": 200, "seed": index})
            for epoch in range(EPOCHS):
                mlflow.log_metric("loss", math.exp(-epoch / 5), step=epoch)
                mlflow.log_metric("train_accuracy", 1 - math.exp(-epoch / 4) / 2, step=epoch)
                if epoch % BATCH_EVERY == BATCH_EVERY - 1:
                    mlflow.log_metrics(
                        {f"val_{name}": 0.8 + epoch / 200 for name in ("acc", "f1", "auc")},
                        step=epoch,
                    )
            mlflow.set_tag("team", "vision")
            mlflow.set_tags({"dataset": "iris", "stage": "baseline"})
            calls += 2 + 2 * EPOCHS + EPOCHS // BATCH_EVERY + 2 + 2  # + start and end
    return time.perf_counter() - started, calls


def main(mode: str, count: int, reps: int) -> None:
    if mode == "log-metric":
        print(
            json.dumps(
                {"points": count, "seconds": [log_metric_rep(count, r) for r in range(reps)]}
            )
        )
        return
    done = [training(count, rep) for rep in range(reps)]
    print(json.dumps({"runs": count, "calls": done[0][1], "seconds": [s for s, _ in done]}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
