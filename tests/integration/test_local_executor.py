"""Each step in its own process: failures, timeouts, retries, limits, parallelism, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gyre
from conftest import copy_resource
from gyre.pipelines.loader import load_pipeline
from gyre.store import Store
from gyre.store import runs as run_rows


def _run(store: Store, ref: str, params: dict | None = None, **kw) -> gyre.PipelineRun:
    return gyre.run(load_pipeline(ref), params or {}, workspace=store, quiet=True, **kw)


def _log(store: Store, run: gyre.PipelineRun, step: str) -> str:
    with store.read() as conn:
        record = run_rows.get(conn, run.steps[step].run_id)
    assert record.log_digest, f"step {step} has no stored log"
    return store.blobs.read_bytes(record.log_digest).decode()


def test_a_step_that_raises_fails_the_run_names_the_step_and_logs_the_traceback(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/behaviours.py", project)
    run = _run(workspace, "behaviours.py:failing")
    assert run.status == "failed"
    assert run.steps["boom"].outcome == "failed"
    assert run.steps["boom"].error == "RuntimeError: boom 1"
    assert run.steps["after_boom"].outcome == "skipped"
    assert "upstream step boom" in run.steps["after_boom"].reason
    assert "step 'boom' failed: RuntimeError: boom 1" in (run.error or "")
    log = _log(workspace, run, "boom")
    assert "Traceback (most recent call last)" in log and "behaviours.py" in log


def test_run_raises_step_failed_for_callers_that_want_an_exception(
    workspace: Store, project: Path
) -> None:
    import pytest

    from gyre.errors import StepFailed
    from gyre.pipelines.run_types import raise_for_status

    copy_resource("good/behaviours.py", project)
    run = _run(workspace, "behaviours.py:failing")
    with pytest.raises(StepFailed, match=r"step 'boom' failed.*gyre logs"):
        raise_for_status(run)


def test_a_step_over_its_timeout_is_killed_and_fails(workspace: Store, project: Path) -> None:
    copy_resource("good/behaviours.py", project)
    run = _run(workspace, "behaviours.py:hanging")
    assert run.status == "failed"
    assert run.steps["sleepy"].error == "timed out after 1 s"


def test_a_failing_step_is_retried_up_to_its_retry_count(workspace: Store, project: Path) -> None:
    copy_resource("good/behaviours.py", project)
    marker = project / "attempts.txt"
    run = _run(workspace, "behaviours.py:retrying", {"marker": str(marker)})
    assert run.status == "finished"
    assert run.steps["flaky"].attempts == 3
    assert run.output("flaky") == 3
    log = _log(workspace, run, "flaky")
    assert "attempt 1 fails" in log and "--- attempt 3 ---" in log


def test_tuple_outputs_are_stored_separately(workspace: Store, project: Path) -> None:
    copy_resource("good/behaviours.py", project)
    run = _run(workspace, "behaviours.py:tuples")
    assert run.status == "finished"
    assert run.output("split", "low") == [0, 1, 2]
    assert run.output("count_high") == 3


def test_a_memory_limit_is_enforced(workspace: Store, project: Path) -> None:
    copy_resource("good/behaviours.py", project)
    run = _run(workspace, "behaviours.py:memory")
    assert run.status == "failed"
    assert "MemoryError" in (run.steps["hog"].error or "")
    small = _run(workspace, "behaviours.py:memory", {"mb": 10})
    assert small.status == "finished"


def test_independent_steps_run_at_the_same_time(workspace: Store, project: Path) -> None:
    copy_resource("good/shapes.py", project)
    run = _run(
        workspace,
        "shapes.py:fanout",
        {"seconds": 0.6, "width": 2},
    )
    assert run.status == "finished"
    with workspace.read() as conn:
        spans = [run_rows.get(conn, s.run_id) for s in run.steps.values()]
    (a, b) = spans
    assert a.started_at is not None and b.started_at is not None
    assert a.ended_at is not None and b.ended_at is not None
    assert a.started_at < b.ended_at and b.started_at < a.ended_at, "the two naps did not overlap"


def test_a_diamond_joins_both_branches(workspace: Store, project: Path) -> None:
    copy_resource("good/shapes.py", project)
    run = _run(workspace, "shapes.py:diamond", {"n": 5})
    assert run.output("join") == {"a": 10, "b": 4}


def test_a_killed_step_fails_cleanly_and_resume_continues_the_same_run(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/behaviours.py", project)
    marker = project / "killed-once"
    run = _run(workspace, "behaviours.py:killed", {"marker": str(marker)})
    assert run.status == "failed"
    assert run.steps["suicide"].error == "the step process was killed by SIGKILL"
    assert run.steps["first"].outcome == "ran"
    resumed = _run(workspace, "behaviours.py:killed", resume=run.id)
    assert resumed.id == run.id
    assert resumed.status == "finished"
    assert resumed.params == {"marker": str(marker)}
    assert resumed.steps["first"].outcome == "ran"  # kept from before, not re-run
    assert resumed.steps["suicide"].outcome == "ran"
    assert resumed.output("suicide") == 7


def test_a_runner_killed_with_sigkill_leaves_a_resumable_workspace(project: Path) -> None:
    copy_resource("good/behaviours.py", project)
    gate = project / "gate.txt"
    gyre_cmd = [sys.executable, "-m", "gyre.cli.main"]
    subprocess.run([*gyre_cmd, "init"], check=True, capture_output=True)
    runner = subprocess.Popen(
        [*gyre_cmd, "run", "behaviours.py:waiting", "--param", f"path={gate}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    from gyre.store import init_workspace

    store = init_workspace(project / ".gyre")
    deadline = time.monotonic() + 20
    step_pid = None
    while time.monotonic() < deadline and step_pid is None:
        with store.read() as conn:
            rows = [
                r for r in _all_runs(conn) if r.kind == "step" and r.status == "running" and r.pid
            ]
        step_pid = rows[0].pid if rows else None
        time.sleep(0.1)
    assert step_pid, "the step never started"
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(step_pid):
        time.sleep(0.1)
    assert not _alive(step_pid), "the step process outlived its killed runner"
    with store.read() as conn:
        pipeline_run = next(r for r in _all_runs(conn) if r.kind == "pipeline")
    assert pipeline_run.status == "running"  # what was committed stays consistent
    gate.write_text("open")
    done = subprocess.run(
        [*gyre_cmd, "run", "--resume", pipeline_run.id, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with store.read() as conn:
        assert run_rows.get(conn, pipeline_run.id).status == "finished"
    store.close()


def _all_runs(conn):  # type: ignore[no-untyped-def]
    return run_rows.select_runs(conn)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_gpus_are_handed_out_as_cuda_visible_devices(
    workspace: Store, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No GPU here: the executor reads the devices it may hand out from CUDA_VISIBLE_DEVICES.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    copy_resource("good/behaviours.py", project)
    run = _run(workspace, "behaviours.py:gpus")
    assert run.output("which_gpu") in ("0", "1")
    assert run.output("no_gpu") == "", "a step without a GPU request sees no GPU"


def test_a_gpu_request_no_device_can_meet_fails_before_running(
    workspace: Store, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gyre.errors import InvalidPipeline

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    copy_resource("good/behaviours.py", project)
    with pytest.raises(InvalidPipeline, match="asks for 3 GPU\\(s\\) and this machine has 1"):
        _run(workspace, "behaviours.py:too_many_gpus")


def test_ctrl_c_on_a_foreground_run_cancels_its_steps(project: Path) -> None:
    copy_resource("good/behaviours.py", project)
    gyre_cmd = [sys.executable, "-m", "gyre.cli.main"]
    subprocess.run([*gyre_cmd, "init"], check=True, capture_output=True)
    runner = subprocess.Popen(
        [*gyre_cmd, "run", "behaviours.py:waiting", "--param", f"path={project / 'never'}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    from gyre.store import init_workspace

    store = init_workspace(project / ".gyre")
    deadline = time.monotonic() + 20
    step_pid = None
    while time.monotonic() < deadline and not step_pid:
        with store.read() as conn:
            running = [r for r in run_rows.select_runs(conn) if r.kind == "step" and r.pid]
        step_pid = running[0].pid if running else None
        time.sleep(0.05)
    assert step_pid
    runner.send_signal(signal.SIGINT)
    out, _ = runner.communicate(timeout=30)
    assert runner.returncode == 1
    assert "cancelled" in out
    with store.read() as conn:
        runs = run_rows.select_runs(conn)
    assert {r.kind: r.status for r in runs} == {"pipeline": "cancelled", "step": "cancelled"}
    assert {r.outcome for r in runs if r.kind == "step"} == {"cancelled"}
    assert "wait_for_file: cancelled (interrupted (Ctrl-C))" in out
    assert "failed" not in out and "reuse is off" not in out, out
    assert not _alive(step_pid)
    store.close()


TORCH_STEP = """
from gyre import pipeline, step


@step
def work() -> float:
    import torch

    x = torch.randn(512, 512, requires_grad=True)
    for _ in range(3):
        (x @ x).sum().backward()
    return float(x.grad.abs().sum() > 0)


@pipeline
def torchy():
    return work()
"""

USES_TORCH_THEN_RUNS = """
import torch

a = torch.randn(2000, 2000)
(a @ a).sum()  # the process's OpenMP team is running now, as in a notebook
import gyre
from gyre.pipelines.loader import load_pipeline

run = gyre.run(load_pipeline("torchy.py:torchy"), workspace=".gyre", quiet=True)
print(run.status)
"""


def test_a_torch_step_forked_from_a_process_that_used_torch_does_not_hang(
    workspace: Store, project: Path
) -> None:
    """GNU OpenMP is not fork-safe: a step forked after the parent ran torch in parallel waited
    forever in its first parallel op (found by the Seer drift test in the full suite)."""
    (project / "torchy.py").write_text(TORCH_STEP)
    (project / "go.py").write_text(USES_TORCH_THEN_RUNS)
    done = subprocess.run(
        [sys.executable, "go.py"], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("finished")
    with workspace.read() as tx:
        step = run_rows.latest_step_run(tx, "torchy", "work")
    assert step is not None
    log = workspace.blobs.read_bytes(step.log_digest or "").decode()
    assert "torch runs on one thread" in log
