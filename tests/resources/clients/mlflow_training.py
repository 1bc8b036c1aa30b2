"""An ordinary MLflow training script, unchanged for gyre: it knows only MLflow's API and the
MLFLOW_TRACKING_URI / MLFLOW_TRACKING_TOKEN it is given. Run with .venv-mlflow's Python
(mlflow-skinny); its last line is a JSON summary for the test that runs it.

Usage: python mlflow_training.py EXPERIMENT WORKDIR
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import mlflow
from mlflow import MlflowClient


def main(experiment_name: str, workdir: Path) -> None:
    experiment = mlflow.set_experiment(experiment_name)
    (workdir / "report.txt").write_text("accuracy 0.93 on the held-out iris rows\n")
    plots = workdir / "plots"
    (plots / "detail").mkdir(parents=True, exist_ok=True)
    (plots / "loss.csv").write_text("step,loss\n0,1.0\n1,0.5\n")
    (plots / "detail" / "confusion.csv").write_text("10,0,0\n0,9,1\n0,1,9\n")

    with mlflow.start_run(run_name="iris-logreg") as run:
        mlflow.log_param("C", 0.5)
        mlflow.log_params({"penalty": "l2", "solver": "lbfgs", "max_iter": 200})
        mlflow.log_metric("val_accuracy", 0.93)
        for step in range(20):
            mlflow.log_metric("loss", math.exp(-step / 5), step=step)
        mlflow.log_metrics({"precision": 0.91, "recall": 0.94}, step=19)
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"dataset": "iris", "stage": "baseline"})
        mlflow.log_artifact(str(workdir / "report.txt"))
        mlflow.log_artifacts(str(plots), artifact_path="plots")
        run_id = run.info.run_id

    client = MlflowClient()
    finished = client.get_run(run_id)
    history = client.get_metric_history(run_id, "loss")
    listed = client.list_artifacts(run_id)
    listed_plots = client.list_artifacts(run_id, "plots")
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="plots", dst_path=str(workdir / "downloaded")
    )
    good = client.search_runs(
        [experiment.experiment_id],
        filter_string="metrics.val_accuracy > 0.9 and params.penalty = 'l2'",
        order_by=["metrics.loss DESC"],
    )
    bad = client.search_runs([experiment.experiment_id], "metrics.val_accuracy > 0.99")
    fluent = mlflow.search_runs(
        experiment_names=[experiment_name],
        filter_string="tags.team = 'vision'",
        output_format="list",
    )
    print(
        json.dumps(
            {
                "experiment_id": experiment.experiment_id,
                "run_id": run_id,
                "status": finished.info.status,
                "params": finished.data.params,
                "metrics": finished.data.metrics,
                "tags": {
                    k: v for k, v in finished.data.tags.items() if not k.startswith("mlflow.")
                },
                "loss_steps": [m.step for m in history],
                "artifacts": sorted((f.path, f.is_dir) for f in listed),
                "plots": sorted(f.path for f in listed_plots),
                "downloaded": sorted(
                    str(p.relative_to(downloaded))
                    for p in Path(downloaded).rglob("*")
                    if p.is_file()
                ),
                "search_good": [r.info.run_id for r in good],
                "search_bad": [r.info.run_id for r in bad],
                "search_fluent": [r.info.run_id for r in fluent],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
