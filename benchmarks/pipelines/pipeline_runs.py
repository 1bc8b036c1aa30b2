"""Measure the tools on one workload: first runs and reused re-runs, each in a fresh process.

Per tool and workload one temp project is generated and initialised (untimed), then warmed up
by one untimed run with a throw-away parameter value, so that one-time costs (creating a
database, registering a pipeline, a cold disk cache) stay out of every tool's figures alike.
Each repetition then times, tool after tool, a first run with a never-seen value and the
tool's reused re-run. Going round the tools once per repetition spreads any load from other
work on the machine over all tools instead of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
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


def measure(
    peers: Sequence[Peer],
    workload: Workload,
    reps: int,
    *,
    keep: bool = False,
    progress: Callable[[str], None] = print,
) -> list[ToolResult]:
    """Measure every peer on ``workload``; a tool that fails says why in its notes."""
    runs = [_ToolRun(peer, workload) for peer in peers]
    active = []
    for run in runs:
        progress(f"- {run.peer.name}: setting up {workload.title} ...")
        if run.prepare():
            active.append(run)
        else:
            progress(f"  {run.result.summary()}")
    for rep in range(reps):
        progress(f"- {workload.title}: repetition {rep + 1} of {reps}")
        for run in list(active):
            if not run.repeat(rep):
                progress(f"  {run.peer.name}: {run.result.notes[-1]}")
                active.remove(run)
    results = [run.finish(keep) for run in runs]
    for result in results:
        if result.ok:
            progress(f"  {result.tool}: {result.summary()}")
    return results


class _ToolRun:
    """One tool's project for one workload, and the runs measured in it."""

    def __init__(self, peer: Peer, workload: Workload) -> None:
        self.peer = peer
        self.result = ToolResult(peer.name, workload)
        self.folder = Path(tempfile.mkdtemp(prefix=f"gyre-bench-{peer.name}-{workload.name}-"))
        self.logs = self.folder / "logs"
        self.project: Project | None = None
        self.env: dict[str, str] = {}
        self.firsts: list[Result] = []
        self.reuses: list[Result] = []

    def prepare(self) -> bool:
        """Install the tool if needed, write its project, set it up, warm it up (untimed)."""
        try:
            python = python_of(self.peer)
        except venvs.Unavailable as exc:
            self.result.notes.append(f"not installed: {exc}")
            return False
        project = Project(dir=self.folder / "project", python=python, workload=self.result.workload)
        project.dir.mkdir()
        self.project = project
        self.env = environment(self.peer, project)
        self.peer.write(project)
        for number, argv in enumerate(self.peer.setup(project)):
            if not self._run(argv, f"setup-{number}", "set-up").ok:
                return False
        warmup = self.peer.first_run(project, f"warmup-{uuid.uuid4().hex[:8]}")
        return self._run(warmup, "warmup", "warm-up run").ok

    def repeat(self, rep: int) -> bool:
        """One timed first run with a never-seen value, then the tool's reused re-run."""
        assert self.project is not None
        value = f"r{rep}-{uuid.uuid4().hex[:8]}"
        first = self._run(self.peer.first_run(self.project, value), f"first-{rep}", "first run")
        if not first.ok:
            return False
        again = self._run(self.peer.rerun(self.project, value), f"reuse-{rep}", "re-run")
        if not again.ok:
            return False
        _check_reuse(self.peer, first, again, self.result)
        self.firsts.append(first)
        self.reuses.append(again)
        return True

    def finish(self, keep: bool) -> ToolResult:
        if self.firsts:
            _summarise(self.result, self.firsts, self.reuses)
        if self.result.notes:
            self.result.notes.append(f"logs in {self.logs}")
        elif not keep:
            shutil.rmtree(self.folder, ignore_errors=True)
        return self.result

    def _run(self, argv: list[str], name: str, what: str) -> Result:
        assert self.project is not None
        done = run_measured(
            argv,
            cwd=self.project.dir,
            env=self.env,
            log=self.logs / f"{name}.log",
            timeout_s=COMMAND_TIMEOUT_S,
            marker=str(self.project.dir),
        )
        _check(done, what, self.result)
        return done


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


def _check(done: Result, what: str, result: ToolResult) -> None:
    """Record left-over processes and a failure on ``result``."""
    result.commands += 1
    if done.leftovers:
        shown = "; ".join(f"{p.pid}: {p.cmdline[:120]}" for p in done.leftovers[:3])
        note = f"{what} left {len(done.leftovers)} process(es) running: {shown}"
        if note not in result.notes:
            result.notes.append(note)
    if not done.ok:
        tail = done.tail(3).replace("\n", " | ")
        result.notes.append(f"{what} failed (exit {done.returncode}): {tail[:400]} [{done.log}]")


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
