"""The CLI as a user types it: real processes, real workspace, output a person reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RESOURCES, copy_resource
from conftest import run_gyre as gyre


@pytest.fixture
def chain_project(project: Path) -> Path:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    gyre("init")
    return project


def test_help_lists_every_command_group() -> None:
    out = gyre("--help").stdout
    for command in (
        "init",
        "run",
        "plan",
        "runs",
        "logs",
        "metrics",
        "artifacts",
        "pipeline",
        "agent",
        "gc",
    ):
        assert f"  {command} " in out


def test_init_then_run_twice_shows_every_step_reused(chain_project: Path) -> None:
    first = gyre("run", "chain.py:chain", "--param", "n=4", "--tag", "build=1")
    assert "produce: ran" in first.stdout and "finished: 3 ran" in first.stdout
    assert "[produce] produce n=4" in first.stdout, "step output is streamed to the terminal"
    second = gyre("run", "chain.py:chain", "--param", "n=4", "--tag", "build=2")
    assert "finished: 3 reused" in second.stdout


def test_plan_prints_reuse_or_run_with_reasons(chain_project: Path) -> None:
    gyre("run", "chain.py:chain")
    out = gyre("plan", "chain.py:chain", "--param", "scale=3").stdout
    assert "produce" in out and "reuse" in out
    assert "param scale: 1 -> 3" in out
    plan = json.loads(gyre("plan", "chain.py:chain", "--json").stdout)
    assert [p["action"] for p in plan] == ["reuse", "reuse", "reuse"]


def test_runs_list_filters_orders_and_prints_json(chain_project: Path) -> None:
    for n in (2, 5, 3):
        gyre("run", "chain.py:chain", "--param", f"n={n}", "--tag", f"build={n}")
    rows = json.loads(
        gyre(
            "runs", "list", "--filter", "params.n > 2", "--order-by", "params.n asc", "--json"
        ).stdout
    )
    assert [r["params"]["n"] for r in rows] == [3, 5]
    table = gyre("runs", "list", "--filter", "tags.build = '5'").stdout
    assert "build=5" in table and "build=3" not in table
    bad = gyre("runs", "list", "--filter", "metrics.acc >>> 1", ok=False)
    assert bad.returncode == 1 and "cannot read" in bad.stderr and "Traceback" not in bad.stderr


def test_runs_show_compare_metrics_logs_and_artifacts(chain_project: Path, tmp_path: Path) -> None:
    gyre("run", "chain.py:chain", "--param", "n=3")
    gyre("run", "chain.py:chain", "--param", "n=4")
    runs = json.loads(gyre("runs", "list", "--json").stdout)
    newest, older = runs[0]["id"], runs[1]["id"]
    shown = json.loads(gyre("runs", "show", newest, "--json").stdout)
    assert [s["name"] for s in shown["steps"]] == ["produce", "total", "report"]
    assert shown["params"] == {"n": 4, "scale": 1, "seed": 0}
    compared = gyre("runs", "compare", newest, older).stdout
    assert "params.n" in compared and "total/value" not in compared
    metrics = gyre("metrics", newest).stdout
    assert "total/value" in metrics and "▁" in metrics
    history = json.loads(gyre("metrics", newest, "value", "--json").stdout)
    assert [p["value"] for p in history["total/value"]] == [0.0, 10.0, 20.0, 30.0]
    logs = gyre("logs", newest, "produce").stdout
    assert "produce n=4" in logs
    gyre("artifacts", "get", newest, "report/report", str(tmp_path / "out"))
    assert (tmp_path / "out" / "total.txt").read_text() == "60"
    listed = json.loads(gyre("artifacts", "list", newest, "--json").stdout)
    assert {a["step"] for a in listed} == {"produce", "total", "report"}


def test_a_failing_step_exits_non_zero_and_names_the_step(project: Path) -> None:
    copy_resource("good/behaviours.py", project)
    gyre("init")
    done = gyre("run", "behaviours.py:failing", ok=False)
    assert done.returncode == 1
    assert "step 'boom' failed: RuntimeError: boom 1" in done.stdout
    assert "Traceback" in done.stdout, "the step's traceback is streamed from its log"


@pytest.mark.parametrize(
    ("resource", "reference", "expected"),
    [
        ("bad/cycle.py", "cycle.py:cyclic", "has a cycle"),
        ("bad/mismatch.py", "mismatch.py:mismatched", "expects Dir but step 'make' returns int"),
        ("bad/duplicate.py", "duplicate.py:clash", "two steps are named 'work'"),
        ("bad/broken_import.py", "broken_import.py:broken", "does not import"),
        ("bad/missing_output.py", "missing_output.py:missing", "which no step produces"),
    ],
)
def test_bad_pipelines_get_one_clear_line_without_traceback(
    project: Path, resource: str, reference: str, expected: str
) -> None:
    copy_resource(resource, project)
    gyre("init")
    done = gyre("run", reference, ok=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and expected in done.stderr
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(project: Path) -> None:
    copy_resource("bad/cycle.py", project)
    gyre("init")
    done = gyre("--debug", "run", "cycle.py:cyclic", ok=False)
    assert "Traceback" in done.stderr and "InvalidPipeline" in done.stderr


def test_a_missing_workspace_says_to_run_init(project: Path) -> None:
    copy_resource("good/chain.py", project)
    done = gyre("run", "chain.py:chain", ok=False)
    assert (
        done.returncode == 1 and "Run 'gyre init'" in done.stderr and "Traceback" not in done.stderr
    )


def test_an_unknown_parameter_is_named(chain_project: Path) -> None:
    done = gyre("run", "chain.py:chain", "--param", "scael=2", ok=False)
    assert "no parameter 'scael'" in done.stderr and "Did you mean 'scale'?" in done.stderr


def test_a_corrupt_output_blob_makes_its_step_run_again_and_the_run_says_why(
    chain_project: Path,
) -> None:
    gyre("run", "chain.py:chain")
    from gyre.config import embedded_settings
    from gyre.store import open_store
    from gyre.store import runs as run_rows

    store = open_store(embedded_settings(chain_project / ".gyre"))
    with store.read() as conn:
        runs = [
            r
            for r in run_rows.children(
                conn, json.loads(gyre("runs", "list", "--json").stdout)[0]["id"]
            )
        ]
        produce = next(r for r in runs if r.name == "produce")
        digest = run_rows.get_artifacts(conn, produce.id, role="output")[0].digest
    blob = store.blobs.path(digest)  # type: ignore[attr-defined]
    blob.chmod(0o644)
    blob.write_bytes(b"[1, 2, 3]")
    planned = gyre("plan", "chain.py:chain", "--param", "scale=5")
    assert "produce" in planned.stdout and "is corrupt" in planned.stdout
    done = gyre("run", "chain.py:chain", "--param", "scale=5")
    assert "produce: ran (output 'output' of produce (run" in done.stdout
    assert f"is corrupt (blob {digest[:12]})" in done.stdout
    assert "finished" in done.stdout.splitlines()[-1]


def test_json_is_available_on_every_list_and_show(chain_project: Path) -> None:
    gyre("run", "chain.py:chain")
    gyre("pipeline", "publish", "chain.py:chain")
    run_id = json.loads(gyre("runs", "list", "--json").stdout)[0]["id"]
    for args in (
        ("runs", "list"),
        ("runs", "show", run_id),
        ("runs", "compare", run_id),
        ("metrics", run_id),
        ("artifacts", "list", run_id),
        ("pipeline", "list"),
        ("pipeline", "show", "chain"),
        ("events", "list"),
        ("plan", "chain.py:chain"),
        ("gc", "--dry-run"),
    ):
        json.loads(gyre(*args, "--json").stdout)


def test_the_resources_folder_is_intact() -> None:
    assert (RESOURCES / "good" / "chain.py").exists()


def test_compute_targets_are_added_listed_shown_and_removed(project: Path) -> None:
    gyre("init")
    gyre("compute", "add", "cluster", "--type", "ray", "--address", "ray://127.0.0.1:9")
    listed = json.loads(gyre("compute", "list", "--json").stdout)
    assert [t["name"] for t in listed] == ["local", "cluster"]
    shown = gyre("compute", "show", "cluster").stdout
    assert "ray://127.0.0.1:9 cannot be reached" in shown
    refused = gyre("compute", "add", "local", "--address", "auto", ok=False)
    assert "'local' is the built-in compute target" in refused.stderr
    gyre("compute", "remove", "cluster")
    missing = gyre("run", "x.py:y", "--compute", "cluster", ok=False)
    assert missing.returncode == 1
