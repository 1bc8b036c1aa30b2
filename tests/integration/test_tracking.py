"""Tracking from steps, scripts and notebooks: params, metrics, tags, artifacts, status."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gyre
from conftest import copy_resource
from gyre.errors import Conflict, InvalidParameter, NoActiveRun
from gyre.pipelines.loader import load_pipeline
from gyre.store import Store
from gyre.store import metrics as metric_rows
from gyre.store import runs as run_rows


def test_start_run_records_params_metrics_tags_artifacts_and_facts(
    workspace: Store, project: Path
) -> None:
    (project / "notes.txt").write_text("hello")
    with gyre.start_run(experiment="seer", store=workspace, tags={"build": "7"}) as run:
        gyre.log_params({"epochs": 20, "lr": 0.001})
        for epoch in range(3):
            gyre.log_metric("val_accuracy", 0.5 + epoch / 10, step=epoch)
        gyre.log_metric("loss", 0.3)
        gyre.log_metric("loss", 0.2)
        gyre.set_tag("stage", "dev")
        gyre.log_artifact(project / "notes.txt")
    with workspace.read() as conn:
        record = run_rows.get(conn, run.run_id)
        assert record.status == "finished" and record.experiment == "seer"
        assert record.host and record.python and record.ended_at
        assert "packages" in record.environment
        assert run_rows.get_params(conn, run.run_id) == {"epochs": 20, "lr": 0.001}
        assert run_rows.get_tags(conn, run.run_id) == {"build": "7", "stage": "dev"}
        history = metric_rows.history(conn, run.run_id, "val_accuracy")
        assert [(s, round(v, 3)) for s, v, _ in history] == [(0, 0.5), (1, 0.6), (2, 0.7)]
        assert [s for s, _, _ in metric_rows.history(conn, run.run_id, "loss")] == [0, 1]
        artifact = run_rows.get_artifacts(conn, run.run_id)[0]
    assert workspace.blobs.read_bytes(artifact.digest) == b"hello"
    assert run.id == run.run_id and repr(run) == f"<ActiveRun id={run.id!r}>"


def test_a_run_whose_block_raises_is_failed_with_the_error(workspace: Store) -> None:
    with pytest.raises(ZeroDivisionError), gyre.start_run(store=workspace) as run:
        gyre.log_metric("x", 1.0)
        1 / 0  # noqa: B018
    with workspace.read() as conn:
        record = run_rows.get(conn, run.run_id)
        assert record.status == "failed" and "ZeroDivisionError" in (record.error or "")
        assert metric_rows.count(conn, run.run_id) == 1, "metrics logged before the error are kept"


def test_nan_metrics_survive_the_round_trip(workspace: Store) -> None:
    with gyre.start_run(store=workspace) as run:
        gyre.log_metric("loss", float("nan"))
        gyre.log_metric("loss", 1.5)
    with workspace.read() as conn:
        values = [v for _, v, _ in metric_rows.history(conn, run.run_id, "loss")]
    assert math.isnan(values[0]) and values[1] == 1.5


def test_logging_without_a_run_says_how_to_start_one() -> None:
    with pytest.raises(NoActiveRun, match=r"No active run to log to.*gyre.start_run\(experiment="):
        gyre.log_metric("x", 1.0)


def test_a_metric_that_is_not_a_number_is_refused_with_its_name(workspace: Store) -> None:
    with (
        gyre.start_run(store=workspace),
        pytest.raises(InvalidParameter, match="Metric 'acc' got 'high'"),
    ):
        gyre.log_metric("acc", "high")  # type: ignore[arg-type]


def test_params_are_immutable_once_logged(workspace: Store) -> None:
    with gyre.start_run(store=workspace):
        gyre.log_param("epochs", 5)
        gyre.log_param("epochs", 5)  # same value: fine
        with pytest.raises(Conflict, match="Param 'epochs'.*already 5.*cannot become 6"):
            gyre.log_param("epochs", 6)


def test_metrics_from_a_step_belong_to_the_step_run(workspace: Store, project: Path) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    run = gyre.run(load_pipeline("chain.py:chain"), workspace=workspace, quiet=True)
    with workspace.read() as conn:
        history = metric_rows.history(conn, run.steps["total"].run_id, "value")
    assert [v for _, v, _ in history] == [0.0, 10.0, 20.0]


def test_a_script_step_logs_into_its_step_run_and_passes_outputs_as_paths(
    workspace: Store, project: Path
) -> None:
    for name in ("scripts_pipeline.py", "parse.py", "train.py"):
        copy_resource(f"good/{name}", project)
    pipeline = load_pipeline("scripts_pipeline.py:scripted")
    run = gyre.run(pipeline, {"epochs": 3}, workspace=workspace, quiet=True)
    assert run.status == "finished", run.error
    model = run.output("train", "model")
    assert (model / "model.txt").read_text() == "10 rows, 3 epochs"
    with workspace.read() as conn:
        history = metric_rows.history(conn, run.steps["train"].run_id, "loss")
    assert len(history) == 3
    again = gyre.run(pipeline, {"epochs": 4}, workspace=workspace, quiet=True)
    assert again.steps["parse"].outcome == "reused" and again.steps["train"].outcome == "ran"


def test_a_process_killed_with_sigkill_keeps_metrics_older_than_a_second(
    workspace: Store, project: Path
) -> None:
    script = project / "killed.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, signal, time
        import gyre
        from gyre.store import open_store
        from gyre.config import embedded_settings
        from pathlib import Path
        store = open_store(embedded_settings(Path({str(project / ".gyre")!r})))
        with gyre.start_run(experiment="kill", store=store) as run:
            print(run.run_id, flush=True)
            for i in range(5000):
                gyre.log_metric("m", float(i), step=i)
            time.sleep(1.6)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert done.returncode == -9
    run_id = done.stdout.split()[0]
    with workspace.read() as conn:
        assert metric_rows.count(conn, run_id) == 5000
