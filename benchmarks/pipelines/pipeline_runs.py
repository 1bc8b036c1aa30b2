"""Measure one tool on one workload: first runs and reused re-runs, each in a fresh process.

Per tool and workload one temp project is generated and initialised (untimed), then warmed up
by one untimed run with a throw-away parameter value, so that one-time costs (creating a
database, registering a pipeline, a cold disk cache) stay out of every tool's figures alike.
Each repetition then times a first run with a never-seen value and the tool's reused re-run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import venvs
from measure import Result, median, run_measured
from peers.base import Peer, Project
from peers.gyre import project_python
from workloads import Workload

COMMAND_TIMEOUT_S = 600
QUIET_ENV = {
    # No telemetry, no update checks: nothing here may wait for the network.
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}


@dataclass
class ToolResult:
    """Medians over the repetitions of one tool on one workload (seconds, MB)."""

    tool: str
    workload: Workload
    first_s: float | None = None
    reuse_s: float | None = None
    step_overhead_s: float | None = None
    max_rss_mb: float | None = None
    tree_rss_mb: float | None = None
    reps: int = 0
    commands: int = 0
    """How many commands ran (each checked for left-over processes)."""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_s is not None

    def summary(self) -> str:
        if self.first_s is None or self.reuse_s is None:
            return "; ".join(self.notes)
        return f"first run {self.first_s:.2f} s, re-run {self.reuse_s:.2f} s"


def python_of(peer: Peer) -> Path:
    """The interpreter of the peer's environment (installed on first use)."""
    if not peer.requirements:
        return project_python()
    return venvs.python_for(peer.name, list(peer.requirements))


def environment(peer: Peer, project: Project) -> dict[str, str]:
    dropped = {"VIRTUAL_ENV", "PYTHONPATH", *peer.unset}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    home = project.dir / "home"
    home.mkdir(exist_ok=True)
    env.update(QUIET_ENV)
    env["HOME"] = str(home)
    env["PATH"] = f"{project.bin}{os.pathsep}{env.get('PATH', '')}"
    env.update(peer.env(project))
    return env


def measure(peer: Peer, workload: Workload, reps: int, keep: bool = False) -> ToolResult:
    """Run ``reps`` first runs and re-runs of ``workload`` with ``peer``; never raises for a
    tool that fails: the result says why in its notes."""
    result = ToolResult(peer.name, workload)
    try:
        python = python_of(peer)
    except venvs.Unavailable as exc:
        result.notes.append(f"not installed: {exc}")
        return result
    folder = Path(tempfile.mkdtemp(prefix=f"gyre-bench-{peer.name}-{workload.name}-"))
    project = Project(dir=folder / "project", python=python, workload=workload)
    project.dir.mkdir()
    logs = folder / "logs"
    try:
        _run_reps(peer, project, reps, logs, result)
    finally:
        if result.notes:
            result.notes.append(f"logs in {logs}")
        elif not keep:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def _run_reps(peer: Peer, project: Project, reps: int, logs: Path, result: ToolResult) -> None:
    env = environment(peer, project)
    peer.write(project)
    for number, argv in enumerate(peer.setup(project)):
        log = logs / f"setup-{number}.log"
        done = run_measured(argv, cwd=project.dir, env=env, log=log, marker=str(project.dir))
        if not _check(done, "set-up", result):
            return
    warmup = peer.first_run(project, f"warmup-{uuid.uuid4().hex[:8]}")
    done = run_measured(
        warmup, cwd=project.dir, env=env, log=logs / "warmup.log", marker=str(project.dir)
    )
    if not _check(done, "warm-up run", result):
        return
    firsts: list[Result] = []
    reuses: list[Result] = []
    for rep in range(reps):
        value = f"r{rep}-{uuid.uuid4().hex[:8]}"
        first = run_measured(
            peer.first_run(project, value),
            cwd=project.dir,
            env=env,
            log=logs / f"first-{rep}.log",
            timeout_s=COMMAND_TIMEOUT_S,
            marker=str(project.dir),
        )
        if not _check(first, "first run", result):
            return
        again = run_measured(
            peer.rerun(project, value),
            cwd=project.dir,
            env=env,
            log=logs / f"reuse-{rep}.log",
            timeout_s=COMMAND_TIMEOUT_S,
            marker=str(project.dir),
        )
        if not _check(again, "re-run", result):
            return
        _check_reuse(peer, first, again, result)
        firsts.append(first)
        reuses.append(again)
    _summarise(result, firsts, reuses)


def _check(done: Result, what: str, result: ToolResult) -> bool:
    """Record left-over processes and failures on ``result``; False when the command failed."""
    result.commands += 1
    if done.leftovers:
        shown = "; ".join(f"{p.pid}: {p.cmdline[:120]}" for p in done.leftovers[:3])
        note = f"{what} left {len(done.leftovers)} process(es) running: {shown}"
        if note not in result.notes:
            result.notes.append(note)
    if done.ok:
        return True
    tail = done.tail(3).replace("\n", " | ")
    result.notes.append(f"{what} failed (exit {done.returncode}): {tail[:400]} [{done.log}]")
    return False


def _check_reuse(peer: Peer, first: Result, again: Result, result: ToolResult) -> None:
    """The first run must reuse nothing, the re-run what the tool can; otherwise say so."""
    if not peer.reuses:
        return
    before = peer.reused_steps(first.log.read_text(errors="replace"))
    after = peer.reused_steps(again.log.read_text(errors="replace"))
    if before:
        note = f"the first run reused {before} step(s) [{first.log}]"
        if note not in result.notes:
            result.notes.append(note)
    if after != peer.expected_reused:
        result.notes.append(
            f"the re-run reused {after} step(s), expected {peer.expected_reused} [{again.log}]"
        )


def _summarise(result: ToolResult, firsts: list[Result], reuses: list[Result]) -> None:
    workload = result.workload
    result.reps = len(firsts)
    result.first_s = median([r.wall_s for r in firsts])
    result.reuse_s = median([r.wall_s for r in reuses])
    result.step_overhead_s = workload.overhead_s(result.first_s)
    both = list(zip(firsts, reuses, strict=True))
    result.max_rss_mb = median([max(a.max_rss_mb, b.max_rss_mb) for a, b in both])
    result.tree_rss_mb = median([max(a.tree_rss_mb, b.tree_rss_mb) for a, b in both])
