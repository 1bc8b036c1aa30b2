"""What a run is made of and gives back: requests, per-step results, observers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gyre.errors import RunCancelled, StepFailed
from gyre.pipelines.dsl import Pipeline
from gyre.pipelines.graph import PipelineGraph
from gyre.store import Store
from gyre.store.runs import ArtifactRecord


@dataclass
class StepResult:
    """What happened to one step in a run."""

    name: str
    run_id: str
    outcome: str | None = None  # ran | reused | failed | skipped
    status: str = "queued"
    reason: str = ""
    reused_from: str | None = None
    error: str | None = None
    attempts: int = 0
    duration: float | None = None
    outputs: dict[str, ArtifactRecord] = field(default_factory=dict)


@dataclass
class PipelineRun:
    """The result of ``gyre.run``: status, per-step outcomes and outputs."""

    id: str
    pipeline: str
    status: str
    params: dict[str, Any]
    tags: dict[str, str]
    steps: dict[str, StepResult]
    store: Store = field(repr=False)
    error: str | None = None

    def output(self, step: str, name: str = "output") -> Any:
        """Load a step's output the way a downstream step would receive it."""
        from gyre.pipelines import materializers

        outputs = self.steps[step].outputs
        named = [r for r in outputs.values() if r.name == name]
        record = outputs[name] if name in outputs or not named else named[0]
        return materializers.load(
            record.materializer,
            record.digest,
            record.meta,
            self.store.blobs,
            self.store.local_path("cache"),
        )


class RunObserver:
    """Hooks for showing progress; the default prints nothing."""

    def run_started(self, run: PipelineRun, graph: PipelineGraph) -> None: ...
    def step_changed(self, result: StepResult) -> None: ...
    def step_output(self, step: str, data: bytes) -> None: ...
    def run_finished(self, run: PipelineRun) -> None: ...


@dataclass
class RunRequest:
    pipeline: Pipeline
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    experiment: str | None = None
    source: str | None = None
    resume: str | None = None
    parallel: float | None = None
    run_id: str | None = None
    compute: str | None = None


def raise_for_status(run: PipelineRun) -> None:
    if run.status == "cancelled":
        raise RunCancelled(f"Run {run.id} of pipeline {run.pipeline!r} was {run.error}.")
    if run.status == "failed":
        raise StepFailed(
            f"Run {run.id} of pipeline {run.pipeline!r} failed: {run.error}. "
            f"See the step log: gyre logs {run.id}."
        )
