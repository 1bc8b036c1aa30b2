"""Seer at small scale (a few images per class, one epoch): the example's own tests."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import gyre
from gyre.data import versions
from gyre.pipelines.loader import load_pipeline
from gyre.registry.models import load_model
from gyre.store import Store, init_workspace

HERE = Path(__file__).parent


@pytest.fixture
def seer_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Store]:
    project = tmp_path / "project"
    shutil.copytree(
        HERE, project / "seer", ignore=shutil.ignore_patterns("__pycache__", "test_*.py")
    )
    (project / "pyproject.toml").write_text("[project]\nname = 'seer-demo'\n")
    monkeypatch.chdir(project)
    sys.path.insert(0, str(project / "seer"))
    from make_data import make

    make(project / "data", per_class=12)
    store = init_workspace(project / ".gyre")
    versions.add(store, "products", str(project / "data" / "v1"))
    return project, store


def test_the_data_is_biased_in_v1_and_balanced_in_v2(seer_project: tuple[Path, Store]) -> None:
    project, store = seer_project
    classes = versions.profile(store, versions.get(store, "products", 1))["classes"]
    assert classes["3"] == 3 and classes["1"] == 3 * classes["0"]
    balanced = {p.name: len(list(p.iterdir())) for p in (project / "data" / "v2").iterdir()}
    assert len(set(balanced.values())) == 1
    assert sum(1 for _ in (project / "data" / "test").rglob("*.png")) == 10 * round(12 * 0.2)


def test_the_dsl_pipeline_trains_registers_and_reuses(seer_project: tuple[Path, Store]) -> None:
    project, store = seer_project
    pipeline = load_pipeline("seer/pipeline.py:seer")
    first = gyre.run(pipeline, {"epochs": 1}, tags={"build": "7"}, workspace=store, quiet=True)
    assert first.status == "finished", first.error
    model = load_model("seer@1", store)
    assert model.record.tags == {"build": "7"} and model.record.datasets == ["products@1"]
    with store.read() as tx:
        from gyre.store import runs as run_rows

        assert run_rows.get_tags(tx, first.steps["train"].run_id)["device"] in ("cpu", "cuda")
    image = next((project / "data" / "test" / "4").glob("*.png"))
    answer = model.predict({"image": base64.b64encode(image.read_bytes()).decode()})
    assert answer["class"] in [str(i) for i in range(10)] and len(answer["scores"]) == 10
    again = gyre.run(pipeline, {"epochs": 1}, tags={"build": "8"}, workspace=store, quiet=True)
    assert {s.outcome for s in again.steps.values()} == {"reused"}
    plan = gyre.plan(pipeline, {"epochs": 2}, workspace=store)
    assert [p.action for p in plan] == ["reuse", "run", "run"]
    assert "param epochs: 1 -> 2" in plan[1].reason


def test_the_script_pipeline_does_the_same_with_parse_train_register(
    seer_project: tuple[Path, Store],
) -> None:
    _, store = seer_project
    pipeline = load_pipeline("seer/scripts_pipeline.py:seer_scripts")
    run = gyre.run(
        pipeline, {"epochs": 1, "model_name": "seer-scripts"}, workspace=store, quiet=True
    )
    assert run.status == "finished", run.error
    assert [s.outcome for s in run.steps.values()] == ["ran", "ran", "ran"]
    version = load_model("seer-scripts", store).record
    assert version.run_id == run.steps["register"].run_id
    with store.read() as tx:
        from gyre.store import metrics as metric_rows

        assert len(metric_rows.history(tx, run.steps["train"].run_id, "val_accuracy")) == 1


def _changed(path: Path, brightness: float, angle: float) -> str:
    """A held-out photo as the shop's new camera takes it: brighter, and turned."""
    import io

    from PIL import Image, ImageEnhance

    with Image.open(path) as image:
        changed = ImageEnhance.Brightness(image.convert("RGB")).enhance(brightness)
        changed = changed.rotate(angle, fillcolor=(255, 255, 255))
        buffer = io.BytesIO()
        changed.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.slow
def test_changed_photos_make_the_hourly_monitor_retrain_once_within_the_cool_down(
    seer_project: tuple[Path, Store],
) -> None:
    """The talk's slides 42-44: the endpoint collects what it scores, the hourly monitor
    compares it with the photos seer@1 was trained on (its lineage), and the drift submits the
    published pipeline, once: the next drifted hour falls in the cool-down."""
    import signal
    import time

    import httpx

    from gyre import endpoints, jobs, releases
    from gyre.monitoring import monitors
    from gyre.pipelines.submission import publish

    project, store = seer_project
    run = gyre.run(
        load_pipeline("seer/pipeline.py:seer"), {"epochs": 1}, workspace=store, quiet=True
    )
    assert run.status == "finished", run.error
    publish(store, "seer/pipeline.py:seer", name="seer")
    releases.apply(store, project / "seer" / "release.yaml")  # versions tagged build=* release
    endpoints.create(store, "seer", "seer@1")
    versions.add(store, "products", str(project / "data" / "v2"))  # newer photos, not yet used
    monitors.create(
        store,
        "seer-drift",
        endpoint="seer",
        window="1h",
        schedule="0 * * * *",
        actions=[
            {"kind": "log"},
            {
                "kind": "retrain",
                "pipeline": "seer",
                "params": {"epochs": 1},
                "tags": {"build": "drift"},
                "cooldown": "6h",
            },
        ],
    )
    log = project / "agent.log"
    agent = subprocess.Popen(
        [sys.executable, "-m", "gyre.cli.main", "agent", "--poll", "0.2"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=project,
    )
    try:
        url = wait_for(
            lambda: endpoints.get(store, "seer").ready_at and endpoints.get(store, "seer").url,
            120,
            "the endpoint",
        )
        photos = sorted((project / "data" / "test").rglob("*.png"))
        with httpx.Client(timeout=60) as client:
            for path in photos * 3:
                body = {"image": _changed(path, brightness=1.8, angle=25)}
                assert client.post(f"{url}/score", json=body).status_code == 200
        wait_for(
            lambda: sum(p.rows for p in _partitions(store)) >= len(photos) * 3,
            60,
            "the collected rows",
        )
        # The end of this hour and of the next, as the agent's scheduler sees them (a test
        # cannot wait an hour): each window is enqueued once and computed by the agent.
        hour = (time.time() // 3600 + 1) * 3600
        assert monitors.schedule_due(store, now=hour + 31) == 1
        first = wait_for(lambda: _computed(store, hour), 120, "the first window")
        assert first.drifted, first.message
        assert first.baseline == "products@1"  # the photos seer@1 learned from
        assert any(f.startswith("image.") for f in (first.report or {})["drifted_features"])
        # top scores have no training counterpart: compared with seer@1's first hour served
        assert "prediction_score" in {f["name"] for f in (first.report or {})["features"]}
        retrain = wait_for(lambda: _pipeline_runs(store), 60, "the retrain")
        assert len(retrain) == 1 and retrain[0].payload["tags"]["monitor"] == "seer-drift"
        # the next hour drifts too: its retrain waits for the cool-down
        with httpx.Client(timeout=60) as client:
            for path in photos:
                body = {"image": _changed(path, brightness=1.8, angle=25)}
                client.post(f"{url}/score", json=body)
        with store.write() as tx:  # the next hour's rows: as if scored then
            tx.execute("UPDATE monitors SET scheduled_until = ?", [hour])
        _shift_collected_into(store, hour)
        assert monitors.schedule_due(store, now=hour + 3600 + 31) == 1
        second = wait_for(lambda: _computed(store, hour + 3600), 120, "the second window")
        assert second.drifted
        wait_for(lambda: _retrain_action(store, second) is not None, 60, "the second action")
        assert "cool-down" in str(_retrain_action(store, second))
        assert len(_pipeline_runs(store)) == 1
        wait_for(
            lambda: jobs.get(store, retrain[0].id).status in ("done", "failed"), 300, "retrain"
        )
        assert jobs.get(store, retrain[0].id).status == "done"
        retrained = load_model("seer@2", store).record  # on the newest photos
        assert retrained.datasets == ["products@2"]
        # and the loop closes with no glue: seer@2 carries the build tag, so it is released
        release = wait_for(
            lambda: [r for r in releases.list_releases(store) if r.version == 2], 60, "release"
        )
        assert release[0].definition == "seer" and retrained.tags["build"] == "drift"
    finally:
        for name in ("seer", "seer-test"):  # serving processes outlive the agent otherwise
            if endpoints.find(store, name) is not None:
                endpoints.delete(store, name)
        agent.send_signal(signal.SIGINT)
        agent.wait(timeout=60)


def wait_for(condition: Any, timeout_s: float, what: str) -> Any:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _partitions(store: Store) -> list:
    from gyre.data import append_only
    from gyre.errors import NotFound

    try:
        return append_only.list_partitions(store, "seer-inference")
    except NotFound:
        return []


def _computed(store: Store, end: float):
    from gyre.monitoring import monitors

    found = [w for w in monitors.windows(store, "seer-drift", with_report=True) if w.ends_at == end]
    return found[0] if found and found[0].status != "waiting" else None


def _pipeline_runs(store: Store) -> list:
    from gyre import jobs

    return jobs.list_jobs(store, kind="pipeline.run")


def _retrain_action(store: Store, window) -> object:
    from gyre.store import monitors as rows

    with store.read() as tx:
        found = rows.find_action(tx, "seer-drift", window.starts_at, window.ends_at, "retrain")
    return found.detail if found else None


def _shift_collected_into(store: Store, hour: float) -> None:
    """Re-seal the newest collected rows an hour later, as they would be had they been
    scored in the next hour (the collector stamps rows with the time they were scored)."""
    import pyarrow.compute as pc

    from gyre.data import append_only

    rows = append_only.window(store, "seer-inference")
    newest = rows.slice(rows.num_rows - 30)
    moved = newest.set_column(
        newest.schema.get_field_index("timestamp"),
        "timestamp",
        pc.add(
            pc.subtract(newest.column("timestamp"), pc.min(newest.column("timestamp"))), hour + 60
        ),
    )
    append_only.append(
        store, "seer-inference", moved, starts_at=hour, ends_at=hour + 3600, key="next-hour"
    )
