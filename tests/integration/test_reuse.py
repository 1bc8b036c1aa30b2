"""Reuse is correct before it is fast: never reused when a dependency changed, never re-run
for something the step does not depend on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gyre
from conftest import copy_resource
from gyre.pipelines.loader import load_pipeline
from gyre.store import Store
from gyre.store import runs as run_rows


def _run(
    store: Store, ref: str, params: dict | None = None, tags: dict | None = None
) -> gyre.PipelineRun:
    return gyre.run(load_pipeline(ref), params or {}, tags=tags, workspace=store, quiet=True)


def outcomes(run: gyre.PipelineRun) -> dict[str, str | None]:
    return {name: step.outcome for name, step in run.steps.items()}


def test_a_second_run_with_nothing_changed_reuses_every_step(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    first = _run(workspace, "chain.py:chain")
    assert first.status == "finished"
    assert outcomes(first) == {"produce": "ran", "total": "ran", "report": "ran"}
    second = _run(workspace, "chain.py:chain")
    assert outcomes(second) == {"produce": "reused", "total": "reused", "report": "reused"}
    assert second.steps["total"].reused_from == first.steps["total"].run_id
    assert second.output("total") == first.output("total") == 30


def test_a_build_number_tag_never_defeats_reuse(workspace: Store, project: Path) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    _run(workspace, "chain.py:chain", tags={"build": "1.41"})
    second = _run(workspace, "chain.py:chain", tags={"build": "1.42"})
    assert set(outcomes(second).values()) == {"reused"}
    with workspace.read() as conn:
        assert run_rows.get_tags(conn, second.id) == {"build": "1.42"}


def test_a_parameter_reruns_only_the_steps_that_take_it(workspace: Store, project: Path) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    _run(workspace, "chain.py:chain")
    second = _run(workspace, "chain.py:chain", {"scale": 2})
    assert outcomes(second) == {"produce": "reused", "total": "ran", "report": "ran"}
    assert "param scale: 1 -> 2" in second.steps["total"].reason
    assert second.output("total") == 60


def test_a_step_whose_output_did_not_change_does_not_rerun_its_consumers(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    _run(workspace, "chain.py:chain", {"n": 3})
    # scale=1 vs the same total from a different path: the report input digest is equal.
    third = _run(workspace, "chain.py:chain", {"n": 3, "seed": 0})
    assert set(outcomes(third).values()) == {"reused"}


def test_editing_an_imported_helper_reruns_the_steps_that_use_it(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    helper = copy_resource("good/helper.py", project)
    _run(workspace, "chain.py:chain")
    helper.write_text("def transform(x):\n    return x * 100\n")
    plan = gyre.plan(load_pipeline("chain.py:chain"), workspace=workspace)
    assert [(p.name, p.action) for p in plan] == [
        ("produce", "run"),
        ("total", "run"),
        ("report", "run"),
    ]
    assert "code changed: helper.py" in plan[0].reason
    assert "upstream step produce runs" in plan[1].reason


def test_editing_an_unrelated_step_does_not_rerun_the_others(
    workspace: Store, project: Path
) -> None:
    chain = copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    _run(workspace, "chain.py:chain")
    chain.write_text(
        chain.read_text().replace(
            '(out / "sub" / "note.txt").write_text("ok")',
            '(out / "sub" / "note.txt").write_text("changed")',
        )
    )
    plan = gyre.plan(load_pipeline("chain.py:chain"), workspace=workspace)
    assert [(p.name, p.action) for p in plan] == [
        ("produce", "reuse"),
        ("total", "reuse"),
        ("report", "run"),
    ]
    assert "code changed" in plan[2].reason


def test_a_reused_step_still_links_the_new_run_to_its_inputs_and_outputs(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    first = _run(workspace, "chain.py:chain")
    second = _run(workspace, "chain.py:chain")
    with workspace.read() as conn:
        new = {a.name: a for a in run_rows.get_artifacts(conn, second.steps["total"].run_id)}
        old = {a.name: a for a in run_rows.get_artifacts(conn, first.steps["total"].run_id)}
    assert new["output"].digest == old["output"].digest
    assert new["input:values"].digest == old["input:values"].digest
    assert new["input:values"].meta["from_step"] == "produce"


def test_a_reused_output_whose_blob_was_deleted_reruns_and_says_why(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    first = _run(workspace, "chain.py:chain")
    digest = first.steps["total"].outputs["output"].digest
    workspace.blobs.delete(digest)
    second = _run(workspace, "chain.py:chain")
    assert second.steps["produce"].outcome == "reused"
    assert second.steps["total"].outcome == "ran"
    reason = second.steps["total"].reason
    assert "output 'output' of total" in reason and f"is missing (blob {digest[:12]})" in reason
    assert second.output("total") == 30


def test_a_reused_output_whose_blob_was_edited_in_place_reruns_and_says_it_is_corrupt(
    workspace: Store, project: Path
) -> None:
    from gyre.store.blobs import LocalBlobStore

    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    first = _run(workspace, "chain.py:chain")
    digest = first.steps["total"].outputs["output"].digest
    assert isinstance(workspace.blobs, LocalBlobStore)
    blob = workspace.blobs.path(digest)
    blob.chmod(0o644)
    blob.write_text("31")  # same size, other bytes: only the digest can tell
    from gyre.pipelines.plan import plan

    planned = {p.name: p for p in plan(load_pipeline("chain.py:chain"), workspace)}
    assert planned["produce"].action == "reuse" and planned["total"].action == "run"
    assert f"output 'output' of total (run {first.id}) is corrupt" in planned["total"].reason
    assert blob.exists(), "a plan changes nothing"
    second = _run(workspace, "chain.py:chain")
    assert second.steps["total"].outcome == "ran"
    assert f"is corrupt (blob {digest[:12]})" in second.steps["total"].reason
    assert second.output("total") == 30


def test_a_deleted_file_inside_a_reused_directory_output_is_detected(
    workspace: Store, project: Path
) -> None:
    from gyre.store.folders import manifest as dir_manifest

    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    first = _run(workspace, "chain.py:chain")
    manifest = dir_manifest(workspace.blobs, first.steps["report"].outputs["output"].digest)
    workspace.blobs.delete(manifest["sub/note.txt"][0])
    second = _run(workspace, "chain.py:chain")
    assert second.steps["report"].outcome == "ran"
    assert (second.output("report") / "sub" / "note.txt").read_text() == "ok"


def test_reuse_false_always_runs(workspace: Store, project: Path) -> None:
    copy_resource("good/behaviours.py", project)
    _run(workspace, "behaviours.py:no_reuse")
    second = _run(workspace, "behaviours.py:no_reuse")
    assert second.steps["always"].outcome == "ran"
    assert "reuse=False" in second.steps["always"].reason


def test_a_helper_edit_reruns_through_the_cli_in_fresh_processes(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    helper = copy_resource("good/helper.py", project)
    gyre_cmd = [sys.executable, "-m", "gyre.cli.main"]
    subprocess.run([*gyre_cmd, "run", "chain.py:chain"], check=True, capture_output=True)
    helper.write_text("def transform(x):\n    return x * 2\n")
    out = subprocess.run(
        [*gyre_cmd, "run", "chain.py:chain", "--json"], check=True, capture_output=True, text=True
    )
    import json

    steps = json.loads(out.stdout)["steps"]
    assert steps["produce"]["outcome"] == "ran"
    assert "helper.py" in steps["produce"]["reason"]


NAMED_OUTPUTS = """
import gyre
from gyre import Dir, step


@step
def prepare(n: int = 2) -> Dir:
    out = gyre.output_dir("features")
    (out / "n.txt").write_text(str(n))
    return out


@step
def train(features: Dir) -> Dir:
    out = gyre.output_dir("model")
    (out / "weights.txt").write_text((features / "n.txt").read_text() * 2)
    return out


@gyre.pipeline
def named(n: int = 2):
    train(prepare(n=n))
"""


def test_output_dir_names_the_artifact_which_is_still_wired_and_reused(
    workspace: Store, project: Path
) -> None:
    (project / "named.py").write_text(NAMED_OUTPUTS)
    first = _run(workspace, "named.py:named")
    assert first.status == "finished", first.error
    planned = gyre.plan(load_pipeline("named.py:named"), {}, workspace=workspace)
    assert [step.action for step in planned] == ["reuse", "reuse"]
    second = _run(workspace, "named.py:named")
    assert outcomes(second) == {"prepare": "reused", "train": "reused"}
    for run in (first, second):
        with workspace.read() as conn:
            names = {
                step: [a.name for a in run_rows.get_artifacts(conn, s.run_id, role="output")]
                for step, s in run.steps.items()
            }
        assert names == {"prepare": ["features"], "train": ["model"]}
        assert (run.output("train", "model") / "weights.txt").read_text() == "22"
        assert run.output("train") == run.output("train", "model")
    listed = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "artifacts", "list", first.id],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "model" in listed and "features" in listed


RENAMED_PARAM = """
import gyre
from gyre import step


@step
def grow(start: int = 1) -> int:
    return start * 2


@gyre.pipeline
def renamed(a: int = 1):
    grow(start=a)
"""


def test_a_rerun_reason_names_the_pipeline_parameter_the_user_changed(
    workspace: Store, project: Path
) -> None:
    (project / "renamed.py").write_text(RENAMED_PARAM)
    _run(workspace, "renamed.py:renamed")
    (planned,) = gyre.plan(load_pipeline("renamed.py:renamed"), {"a": 3}, workspace=workspace)
    assert planned.action == "run"
    assert "param start (pipeline param a): 1 -> 3" in planned.reason
    second = _run(workspace, "renamed.py:renamed", {"a": 3})
    assert "param start (pipeline param a): 1 -> 3" in second.steps["grow"].reason
