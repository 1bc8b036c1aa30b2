"""Seer at small scale (a few images per class, one epoch): the example's own tests."""

from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path

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
