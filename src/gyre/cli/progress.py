"""A live table of step states for ``gyre run``, with step output streamed above it."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from gyre.pipelines.graph import PipelineGraph
from gyre.pipelines.runner import PipelineRun, RunObserver, StepResult

_STYLE = {
    "ran": "green",
    "reused": "cyan",
    "failed": "red",
    "skipped": "yellow",
    "running": "bold blue",
    "queued": "dim",
}


class LiveProgress(RunObserver):
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=False)
        self.steps: dict[str, StepResult] = {}
        self.started: dict[str, float] = {}
        self.live: Live | None = None
        self.run_id = ""

    def _table(self) -> Table:
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
        self.run_id = run.id
        self.steps = dict(run.steps)
        if self.console.is_terminal:
            # auto_refresh=False: no refresh thread in a process that forks step processes.
            self.live = Live(self._table(), console=self.console, auto_refresh=False)
            self.live.start()
        else:
            self.console.print(f"run {run.id} of pipeline {run.pipeline}")

    def step_changed(self, result: StepResult) -> None:
        self.steps[result.name] = result
        if result.status == "running":
            self.started.setdefault(result.name, time.monotonic())
        if self.live is not None:
            self.live.update(self._table(), refresh=True)
        elif result.status not in ("running", "queued"):
            why = result.error if result.outcome == "failed" else result.reason
            self.console.print(f"  {result.name}: {result.outcome}" + (f" ({why})" if why else ""))

    def step_output(self, step: str, data: bytes) -> None:
        text = data.decode(errors="replace")
        for line in text.splitlines():
            if self.live is not None:
                self.live.console.print(f"[dim]\\[{step}][/] {line}", highlight=False, markup=True)
            else:
                sys.stdout.write(f"[{step}] {line}\n")
        if self.live is None:
            sys.stdout.flush()

    def run_finished(self, run: PipelineRun) -> None:
        if self.live is not None:
            self.live.update(self._table(), refresh=True)
            self.live.stop()
        counts: dict[str, int] = {}
        for result in run.steps.values():
            counts[result.outcome or result.status] = (
                counts.get(result.outcome or result.status, 0) + 1
            )
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        style = "green" if run.status == "finished" else "red"
        self.console.print(f"[{style}]run {run.id} {run.status}[/]: {summary}")
        if run.error:
            self.console.print(f"[red]{run.error}[/]")


def describe(value: Any) -> str:
    return str(value)
