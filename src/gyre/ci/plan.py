"""``gyre ci plan``: which steps a merge of this change would re-run, why, and about how long
they would take; as text, or as Markdown for a pull-request comment. It runs nothing."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.ci import repository
from gyre.pipelines.loader import load_pipeline
from gyre.pipelines.plan import PlannedStep
from gyre.pipelines.plan import plan as reuse_plan
from gyre.store import Store
from gyre.store import runs as run_rows

MARKER = "<!-- gyre ci plan -->"  # finds the comment to update on a pull request


@dataclass(frozen=True)
class CiPlanStep:
    step: PlannedStep
    estimate_s: float | None  # median of its last runs; None: it never ran


@dataclass(frozen=True)
class CiPlan:
    pipeline: str
    reference: str
    steps: list[CiPlanStep]
    changed_files: list[str] | None  # since --base
    base: str | None

    @property
    def estimate_s(self) -> float:
        return sum(s.estimate_s or 0.0 for s in self.steps if s.step.action == "run")

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "reference": self.reference,
            "base": self.base,
            "changed_files": self.changed_files,
            "estimate_s": round(self.estimate_s, 3),
            "steps": [{**s.step.__dict__, "estimate_s": s.estimate_s} for s in self.steps],
        }


def plan(
    store: Store,
    reference: str,
    params: dict[str, Any] | None = None,
    *,
    base: str | None = None,
) -> CiPlan:
    pipeline = load_pipeline(reference)
    planned = reuse_plan(pipeline, store, params)
    with store.read() as tx:
        steps = [
            CiPlanStep(
                step,
                _median(run_rows.recent_durations(tx, pipeline.name, step.name)),
            )
            for step in planned
        ]
    changed = None
    if base is not None:
        file = Path(reference.rpartition(":")[0] or reference).resolve()
        changed = repository.changed_since(repository.root(file.parent), base)
    return CiPlan(pipeline.name, reference, steps, changed, base)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _seconds(value: float | None) -> str:
    if value is None:
        return "new"
    if value < 90:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def as_text(result: CiPlan) -> str:
    runs = [s for s in result.steps if s.step.action == "run"]
    lines = [
        f"{result.pipeline}: {len(runs)} of {len(result.steps)} step(s) would run"
        + (f", about {_seconds(result.estimate_s)}" if runs else "; nothing to train")
    ]
    if result.changed_files is not None:
        lines.append(f"changed since {result.base}: {', '.join(result.changed_files) or 'nothing'}")
    for s in result.steps:
        estimate = f" [{_seconds(s.estimate_s)}]" if s.step.action == "run" else ""
        lines.append(f"  {s.step.name}: {s.step.action}{estimate} ({s.step.reason})")
    return "\n".join(lines)


def as_markdown(result: CiPlan) -> str:
    runs = [s for s in result.steps if s.step.action == "run"]
    head = f"**{len(runs)} of {len(result.steps)} step(s) of `{result.pipeline}` would run**" + (
        f", about {_seconds(result.estimate_s)}." if runs else ": nothing to train."
    )
    rows = [
        f"| `{s.step.name}` | {'**run**' if s.step.action == 'run' else 'reuse'} | "
        f"{_seconds(s.estimate_s) if s.step.action == 'run' else ''} | "
        f"{s.step.reason.replace('|', '/')} |"
        for s in result.steps
    ]
    parts = [
        MARKER,
        "### gyre ci plan",
        "",
        head,
        "",
        "| step | action | estimate | why |",
        "|---|---|---|---|",
        *rows,
    ]
    if result.changed_files is not None:
        files = ", ".join(f"`{f}`" for f in result.changed_files) or "nothing"
        parts += ["", f"Changed since `{result.base}`: {files}"]
    return "\n".join(parts) + "\n"
