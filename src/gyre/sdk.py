"""Python entry points that mirror the CLI: ``gyre.run`` and ``gyre.plan``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gyre.pipelines.dsl import Pipeline
from gyre.pipelines.plan import PlannedStep
from gyre.pipelines.plan import plan as _plan
from gyre.pipelines.run_types import PipelineRun, RunObserver, RunRequest, StepResult
from gyre.pipelines.runner import run_pipeline
from gyre.store import Store
from gyre.tracking.current_store import current_store


class _PrintObserver(RunObserver):
    """Plain progress for scripts and notebooks: step states and step output, prefixed."""

    def step_changed(self, result: StepResult) -> None:
        if result.status in ("running", "queued"):
            return
        detail = f" ({result.reason})" if result.reason and result.outcome != "ran" else ""
        print(f"[{result.name}] {result.outcome}{detail}", flush=True)

    def step_output(self, step: str, data: bytes) -> None:
        text = data.decode(errors="replace")
        lines = text.splitlines()
        sys.stdout.write("".join(f"[{step}] {line}\n" for line in lines))
        sys.stdout.flush()


def run(
    pipeline: Pipeline,
    params: dict[str, Any] | None = None,
    *,
    tags: dict[str, str] | None = None,
    experiment: str | None = None,
    workspace: str | Path | Store | None = None,
    resume: str | None = None,
    quiet: bool = False,
    observer: RunObserver | None = None,
    compute: str | None = None,
) -> PipelineRun:
    """Run a pipeline now and block until it ends.

    Args:
        pipeline: a ``@gyre.pipeline`` function.
        params: overrides of its parameters, e.g. ``{"epochs": 20}``.
        tags: run tags, e.g. ``{"build": "1.42"}``; never part of any cache key.
        experiment: experiment name (default: the pipeline's name).
        workspace: a workspace folder or open store (default: the configured workspace).
        resume: id of a failed or killed run to continue, reusing what finished.
        quiet: print nothing.
        compute: run every step on this compute target (default: each step's own, or local).

    Returns:
        The :class:`PipelineRun`; check ``.status`` and ``.steps[name].outcome``.
    """
    if observer is None:
        observer = RunObserver() if quiet else _PrintObserver()
    request = RunRequest(
        pipeline=pipeline,
        params=dict(params or {}),
        tags={k: str(v) for k, v in (tags or {}).items()},
        experiment=experiment,
        resume=resume,
        compute=compute,
    )
    return run_pipeline(request, current_store(workspace), observer)


def plan(
    pipeline: Pipeline,
    params: dict[str, Any] | None = None,
    *,
    workspace: str | Path | Store | None = None,
) -> list[PlannedStep]:
    """What ``run`` would do now: per step ``reuse`` (and from which run) or ``run``, and why."""
    return _plan(pipeline, current_store(workspace), params)
