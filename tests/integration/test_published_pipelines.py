"""Published pipelines run the code as it was published; agents claim queued runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import copy_resource
from gyre.agent import serve
from gyre.pipelines.submission import cancel_run, publish, submit
from gyre.store import Store, jobs
from gyre.store import runs as run_rows

GYRE = [sys.executable, "-m", "gyre.cli.main"]


def _project_with_chain(project: Path) -> Path:
    copy_resource("good/chain.py", project)
    return copy_resource("good/helper.py", project)


def test_a_submitted_run_executes_the_code_as_published(workspace: Store, project: Path) -> None:
    helper = _project_with_chain(project)
    v1 = publish(workspace, "chain.py:chain", name="chain")
    assert v1.version == 1 and v1.entrypoint == "chain.py:chain"
    helper.write_text("def transform(x):\n    return x * 1000\n")  # edited after publishing
    submitted = submit(workspace, "chain", 1, params={"n": 2}, tags={"build": "9"})
    assert serve(workspace, once=True, say=lambda _m: None) == 1
    with workspace.read() as conn:
        record = run_rows.get(conn, submitted.run_id)
        total = next(c for c in run_rows.children(conn, record.id) if c.name == "total")
        output = run_rows.get_artifacts(conn, total.id, role="output")[0]
        assert run_rows.get_tags(conn, record.id) == {"build": "9", "pipeline_version": "1"}
        assert jobs.get(conn, submitted.job_id).status == "done"
    assert record.status == "finished" and record.source == "chain@1"
    assert workspace.blobs.read_bytes(output.digest) == b"10"  # (0 + 1) * 10: the published helper
    v2 = publish(workspace, "chain.py:chain", name="chain")
    assert v2.version == 2


def test_a_local_run_reuses_what_a_published_run_of_the_same_code_computed(
    workspace: Store, project: Path
) -> None:
    import gyre
    from gyre.pipelines.loader import load_pipeline

    _project_with_chain(project)
    publish(workspace, "chain.py:chain", name="chain")
    submit(workspace, "chain", params={"n": 4})
    serve(workspace, once=True, say=lambda _m: None)
    local = gyre.run(load_pipeline("chain.py:chain"), {"n": 4}, workspace=workspace, quiet=True)
    assert {s.outcome for s in local.steps.values()} == {"reused"}


def test_submit_checks_parameters_before_queueing(workspace: Store, project: Path) -> None:
    import pytest

    from gyre.errors import InvalidParameter

    _project_with_chain(project)
    publish(workspace, "chain.py:chain")
    with pytest.raises(InvalidParameter, match="no parameter 'epochs'"):
        submit(workspace, "chain", params={"epochs": 3})
    with workspace.read() as conn:
        assert jobs.list_jobs(conn) == []


def test_a_queued_run_can_be_cancelled_before_an_agent_takes_it(
    workspace: Store, project: Path
) -> None:
    _project_with_chain(project)
    publish(workspace, "chain.py:chain")
    submitted = submit(workspace, "chain")
    assert "Cancelled queued run" in cancel_run(workspace, submitted.run_id)
    assert serve(workspace, once=True, say=lambda _m: None) == 0


def test_a_submitted_run_is_a_run_from_the_moment_it_is_queued(
    workspace: Store, project: Path
) -> None:
    _project_with_chain(project)
    publish(workspace, "chain.py:chain")
    submitted = submit(workspace, "chain", params={"n": 5})
    shown = subprocess.run(
        [*GYRE, "runs", "show", submitted.run_id, "--json"], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "queued"
    listed = subprocess.run([*GYRE, "runs", "list", "--json"], capture_output=True, text=True)
    assert submitted.run_id in {r["id"] for r in json.loads(listed.stdout)}
    assert serve(workspace, once=True, say=lambda _m: None) == 1
    with workspace.read() as conn:
        record = run_rows.get(conn, submitted.run_id)
        params = run_rows.get_params(conn, submitted.run_id)
    assert record.status == "finished" and record.started_at and record.host
    assert params["n"] == 5


def test_a_cancelled_queued_run_is_shown_as_cancelled(workspace: Store, project: Path) -> None:
    _project_with_chain(project)
    publish(workspace, "chain.py:chain")
    submitted = submit(workspace, "chain")
    cancel_run(workspace, submitted.run_id)
    with workspace.read() as conn:
        assert run_rows.get(conn, submitted.run_id).status == "cancelled"


def test_submit_wait_runs_in_the_foreground_when_no_agent_runs(
    workspace: Store, project: Path
) -> None:
    _project_with_chain(project)
    subprocess.run(
        [*GYRE, "pipeline", "publish", "chain.py:chain"], check=True, capture_output=True
    )
    done = subprocess.run(
        [*GYRE, "pipeline", "submit", "chain", "--param", "n=5", "--wait"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No agent picked it up: running it here." in done.stdout
    assert "finished" in done.stdout.splitlines()[-1]
    assert done.stdout.count("finished") == 1, done.stdout


def test_an_agent_process_runs_submitted_runs_and_a_running_run_can_be_cancelled(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/behaviours.py", project)
    publish(workspace, "behaviours.py:waiting")
    gate = project / "never-opened"
    submitted = submit(workspace, "waiting", params={"path": str(gate)})
    agent = subprocess.Popen(
        [*GYRE, "agent", "--poll", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status != "running":
            with workspace.read() as conn:
                try:
                    status = run_rows.get(conn, submitted.run_id).status
                except Exception:
                    status = None
            time.sleep(0.1)
        assert status == "running"
        cancel_run(workspace, submitted.run_id)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with workspace.read() as conn:
                children = run_rows.children(conn, submitted.run_id)
            if children and children[0].status == "cancelled":
                break
            time.sleep(0.1)
        assert children[0].status == "cancelled"
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    assert os.environ.get("GYRE_URI") is None
