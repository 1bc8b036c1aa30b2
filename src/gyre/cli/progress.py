"""Progress for ``gyre run``: a live table on a terminal, plain lines otherwise.

rich is imported only for the live table, so a piped or scripted ``gyre run`` starts faster.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from gyre.pipelines.graph import PipelineGraph
from gyre.pipelines.run_types import PipelineRun, RunObserver, StepResult

_STYLE = {
    "ran": "green",
    "reused": "cyan",
    "failed": "red",
    "skipped": "yellow",
    "running": "bold blue",
    "queued": "dim",
}


def summary(run: PipelineRun) -> str:
    counts: dict[str, int] = {}
    for result in run.steps.values():
        state = result.outcome or result.status
        counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


class PlainProgress(RunObserver):
    """One line per step state change, step output prefixed with the step's name."""

    def run_started(self, run: PipelineRun, graph: PipelineGraph) -> None:
        print(f"run {run.id} of pipeline {run.pipeline}", flush=True)

    def step_changed(self, result: StepResult) -> None:
        if result.status in ("running", "queued"):
            return
        why = result.error if result.outcome == "failed" else result.reason
        print(f"  {result.name}: {result.outcome}" + (f" ({why})" if why else ""), flush=True)

    def step_output(self, step: str, data: bytes) -> None:
        lines = data.decode(errors="replace").splitlines()
        sys.stdout.write("".join(f"[{step}] {line}\n" for line in lines))
        sys.stdout.flush()

    def run_finished(self, run: PipelineRun) -> None:
        print(f"run {run.id} {run.status}: {summary(run)}")
        if run.error:
            print(run.error)


def make_progress() -> RunObserver:
    return LiveProgress() if sys.stdout.isatty() else PlainProgress()


class LiveProgress(RunObserver):
    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console()
        self.steps: dict[str, StepResult] = {}
        self.started: dict[str, float] = {}
        self.live: Any = None
        self.run_id = ""

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title=f"run {self.run_id}", title_justify="left", box=None, pad_edge=False)
        table.add_column("step")
        table.add_column("state")
        table.add_column("time", justify="right")
        table.add_column("why", overflow="fold")
        for name, result in self.steps.items():
            state = result.outcome or result.status
            if result.duration is not None:
                elapsed = f"{result.duration:.2f}s"
            elif name in self.started:
                elapsed = f"{time.monotonic() - self.started[name]:.1f}s"
            else:
                elapsed = ""
            why = result.error if result.outcome == "failed" else result.reason
            table.add_row(name, f"[{_STYLE.get(state, '')}]{state}[/]", elapsed, why or "")
        return table

    def run_started(self, run: PipelineRun, graph: PipelineGraph) -> None:
        from rich.live import Live

        self.run_id = run.id
        self.steps = dict(run.steps)
        # auto_refresh=False: no refresh thread in a process that forks step processes.
        self.live = Live(self._table(), console=self.console, auto_refresh=False)
        self.live.start()

    def step_changed(self, result: StepResult) -> None:
        self.steps[result.name] = result
        if result.status == "running":
            self.started.setdefault(result.name, time.monotonic())
        self.live.update(self._table(), refresh=True)

    def step_output(self, step: str, data: bytes) -> None:
        from rich.markup import escape

        prefix = escape(f"[{step}]")
        for line in data.decode(errors="replace").splitlines():
            self.live.console.print(f"[dim]{prefix}[/] {escape(line)}", highlight=False)

    def run_finished(self, run: PipelineRun) -> None:
        from rich.markup import escape

        self.live.update(self._table(), refresh=True)
        self.live.stop()
        style = "green" if run.status == "finished" else "red"
        self.console.print(f"[{style}]run {run.id} {run.status}[/]: {summary(run)}")
        if run.error:
            self.console.print(f"[red]{escape(run.error)}[/]")
