"""Datasets as pipeline inputs: pinned per run, part of the cache key, recorded in lineage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gyre
from conftest import copy_resource
from gyre.data import lineage, versions
from gyre.pipelines.loader import load_pipeline
from gyre.store import Store
from gyre.store import runs as run_rows
from support.data_files import make_images, write


def test_a_new_dataset_version_reruns_exactly_the_steps_that_read_it(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/data_pipeline.py", project)
    images = make_images(project / "imgs", {"cat": 3, "dog": 1})
    versions.add(workspace, "products", str(images))
    pipeline = load_pipeline("data_pipeline.py:images_pipeline")
    first = gyre.run(pipeline, workspace=workspace, quiet=True)
    assert first.status == "finished", first.error
    assert first.output("count_classes") == {"cat": 3, "dog": 1}
    assert first.params["images"] == gyre.Dataset("products", 1)
    again = gyre.run(pipeline, workspace=workspace, quiet=True)
    assert {s.outcome for s in again.steps.values()} == {"reused"}
    make_images(images, {"dog": 3}, shade=200)
    versions.add(workspace, "products", str(images))
    plan = gyre.plan(pipeline, workspace=workspace)
    assert plan[0].action == "run" and "input images changed" in plan[0].reason
    third = gyre.run(pipeline, workspace=workspace, quiet=True)
    assert third.steps["count_classes"].outcome == "ran"
    assert third.output("count_classes") == {"cat": 3, "dog": 3}


def test_a_pinned_older_version_is_reused_and_a_param_picks_a_version(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/data_pipeline.py", project)
    images = make_images(project / "imgs", {"cat": 2, "dog": 2})
    versions.add(workspace, "products", str(images))
    make_images(images, {"cow": 1})
    versions.add(workspace, "products", str(images))
    pipeline = load_pipeline("data_pipeline.py:images_pipeline")
    old = gyre.run(pipeline, {"images": "products@1"}, workspace=workspace, quiet=True)
    assert old.output("count_classes") == {"cat": 2, "dog": 2}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gyre.cli.main",
            "run",
            "data_pipeline.py:images_pipeline",
            "--param",
            "images=products@1",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    steps = json.loads(done.stdout)["steps"]
    assert steps["count_classes"]["outcome"] == "reused"


def test_lineage_links_dataset_versions_and_runs_both_ways(workspace: Store, project: Path) -> None:
    copy_resource("good/data_pipeline.py", project)
    versions.add(workspace, "products", str(make_images(project / "imgs", {"a": 1, "b": 1})))
    run = gyre.run(
        load_pipeline("data_pipeline.py:images_pipeline"), workspace=workspace, quiet=True
    )
    assert run.output("publish_counts") == 1
    produced = versions.get(workspace, "class-counts", 1)
    assert produced.run_id == run.steps["publish_counts"].run_id
    graph = lineage.of_run(workspace, run.id)
    assert {e["dataset"] for e in graph.read} == {"products@1"}
    assert {e["dataset"] for e in graph.wrote} == {"class-counts@1"}
    used = lineage.of_version(workspace, "products@1")
    assert [u["run"] for u in used.used_by] == [run.steps["count_classes"].run_id]
    assert used.used_by[0]["parent"] == run.id
    made = lineage.of_version(workspace, "class-counts@1")
    assert [p["run"] for p in made.produced_by] == [run.steps["publish_counts"].run_id]
    with workspace.read() as tx:
        inputs = run_rows.get_artifacts(tx, run.steps["count_classes"].run_id, role="input")
    assert inputs[0].meta == {"dataset": "products", "version": 1}


def test_a_table_dataset_arrives_as_an_arrow_table(workspace: Store, project: Path) -> None:
    copy_resource("good/data_pipeline.py", project)
    versions.add(workspace, "sales", str(write(project / "sales.csv", "price\n1\n2\n6\n")))
    run = gyre.run(
        load_pipeline("data_pipeline.py:table_pipeline"), workspace=workspace, quiet=True
    )
    assert run.status == "finished", run.error
    assert run.output("mean_price") == 3.0


def test_a_missing_dataset_fails_before_any_step_runs(workspace: Store, project: Path) -> None:
    import pytest

    from gyre.errors import NotFound

    copy_resource("good/data_pipeline.py", project)
    with pytest.raises(NotFound, match="No dataset named 'products'"):
        gyre.run(load_pipeline("data_pipeline.py:images_pipeline"), workspace=workspace, quiet=True)
