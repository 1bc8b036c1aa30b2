"""``gyre plan``: which steps a run would reuse and which it would run, and why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.pipelines import reuse
from gyre.pipelines.code_fingerprint import CodeFingerprinter, project_root
from gyre.pipelines.dataset_inputs import DatasetPins
from gyre.pipelines.dsl import Pipeline
from gyre.pipelines.graph import build_graph
from gyre.pipelines.params import resolve_params
from gyre.pipelines.step_keys import key_for, param_sources
from gyre.store import Store
from gyre.store.runs import ArtifactRecord


@dataclass(frozen=True)
class PlannedStep:
    name: str
    action: str  # reuse | run
    reason: str
    reuse_from: str | None
    cache_key: str | None


def plan(
    pipeline: Pipeline, store: Store, params: dict[str, Any] | None = None
) -> list[PlannedStep]:
    """What ``gyre.run(pipeline, params=...)`` would do now, step by step, in run order."""
    pins = DatasetPins(store)
    values = pins.pin_values(resolve_params(pipeline, params or {}))
    graph = build_graph(pipeline, values)
    fingerprinter = CodeFingerprinter(project_root(Path(pipeline.defined_at.rsplit(":", 1)[0])))
    done: dict[str, dict[str, ArtifactRecord]] = {}
    planned: dict[str, PlannedStep] = {}
    with store.read() as tx:
        for name in graph.order:
            node = graph.nodes[name]
            rerun_upstream = sorted(u for u in node.upstream if planned[u].action == "run")
            if rerun_upstream:
                planned[name] = PlannedStep(
                    name,
                    "run",
                    f"upstream step {rerun_upstream[0]} runs; reused if its output comes out the "
                    "same",
                    None,
                    None,
                )
                continue
            key = key_for(node, values, done, fingerprinter, pins)
            decision = reuse.decide(
                tx,
                store.blobs,
                pipeline=pipeline.name,
                step=name,
                key=key,
                reuse_allowed=node.options.reuse,
                param_sources=param_sources(node),
            )
            if decision.source is not None:
                done[name] = reuse.by_output(node, decision.outputs)
                planned[name] = PlannedStep(
                    name, "reuse", decision.reason, decision.source.id, key.digest
                )
            else:
                planned[name] = PlannedStep(name, "run", decision.reason, None, key.digest)
    return [planned[name] for name in graph.order]
