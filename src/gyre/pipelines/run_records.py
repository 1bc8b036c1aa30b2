"""The records of a pipeline run: its run row, one row per step, and what each step did.

The runner decides (what is ready, what is reused, what to launch); these functions write it
down and keep the in-memory ``PipelineRun`` / ``StepResult`` in step with the rows. A step row
goes queued -> running -> finished | failed | cancelled, or straight to finished when reused,
or to skipped when the run stops before it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gyre.errors import InvalidPipeline
from gyre.pipelines.cache_key import CacheKey
from gyre.pipelines.dsl import Node, Output
from gyre.pipelines.graph import PipelineGraph
from gyre.pipelines.reuse import ReuseDecision, by_output
from gyre.pipelines.run_types import PipelineRun, RunRequest, StepResult
from gyre.store import Store
from gyre.store import runs as run_rows
from gyre.store.database import Transaction
from gyre.store.datasets import VersionRecord
from gyre.store.runs import ArtifactRecord

Outputs = Mapping[str, Mapping[str, ArtifactRecord]]
"""Finished steps' outputs: step name -> output name -> artifact."""


def _pipeline_folder(graph: PipelineGraph) -> Path:
    return Path(graph.pipeline.defined_at.rsplit(":", 1)[0]).parent


# -- the run -------------------------------------------------------------------------------


def create_run(
    store: Store, request: RunRequest, graph: PipelineGraph, values: dict[str, Any]
) -> PipelineRun:
    """A new running pipeline run with its parameters, tags and one queued row per step."""
    from gyre.tracking.run_environment import run_facts

    pipeline = request.pipeline
    facts = run_facts(_pipeline_folder(graph))
    steps: dict[str, StepResult] = {}
    with store.write() as tx:
        run_id = run_rows.create(
            tx,
            kind="pipeline",
            name=pipeline.name,
            experiment=request.experiment or pipeline.name,
            source=request.source or pipeline.defined_at,
            run_id=request.run_id,
            heartbeat_at=time.time(),
            **facts,
        )
        run_rows.set_params(tx, run_id, values)
        run_rows.set_tags(tx, run_id, request.tags)
        for name in graph.order:
            step_id = run_rows.create(
                tx,
                kind="step",
                name=name,
                experiment=request.experiment or pipeline.name,
                parent_id=run_id,
                status="queued",
                host=facts["host"],
                python=facts["python"],
                git_commit=facts["git_commit"],
                git_dirty=facts["git_dirty"],
            )
            steps[name] = StepResult(name, step_id)
    return PipelineRun(run_id, pipeline.name, "running", values, request.tags, steps, store)


def status_and_params(store: Store, run_id: str) -> tuple[str, dict[str, Any]]:
    """A run's status and stored parameters (what ``--resume`` starts from)."""
    with store.read() as tx:
        record = run_rows.get(tx, run_id)
        stored = run_rows.get_params(tx, record.id)
    return record.status, stored


def resume_run(
    store: Store,
    run_id: str,
    graph: PipelineGraph,
    values: dict[str, Any],
    *,
    starts_queued: bool,
) -> PipelineRun:
    """Run ``run_id`` again: its finished steps stay finished (with their outputs), the others
    are queued again, and a step the pipeline gained gets a queued row. A submitted run that
    was queued until now (``starts_queued``) records where it starts and its parameters."""
    with store.write() as tx:
        record = run_rows.get(tx, run_id)
        if record.kind != "pipeline":
            raise InvalidPipeline(f"Run {run_id} is a {record.kind} run; resume a pipeline run.")
        tags = run_rows.get_tags(tx, record.id)
        run_rows.update_run(
            tx,
            record.id,
            status="running",
            ended_at=None,
            error=None,
            heartbeat_at=time.time(),
            pid=os.getpid(),
        )
        if starts_queued:
            from gyre.tracking.run_environment import run_facts

            folder = _pipeline_folder(graph)
            run_rows.update_run(tx, record.id, started_at=time.time(), **run_facts(folder))
            run_rows.set_params(tx, record.id, values)
        steps: dict[str, StepResult] = {}
        existing = {child.name: child for child in run_rows.children(tx, record.id)}
        for name in graph.order:
            child = existing.get(name)
            if child is None:
                step_id = run_rows.create(
                    tx,
                    kind="step",
                    name=name,
                    experiment=record.experiment,
                    parent_id=record.id,
                    status="queued",
                )
                steps[name] = StepResult(name, step_id)
                continue
            result = StepResult(name, child.id)
            if child.status == "finished":
                result.status, result.outcome = "finished", child.outcome
                result.reused_from = child.reused_from
                result.reason = "finished before the resume"
                result.outputs = by_output(
                    graph.nodes[name], run_rows.get_artifacts(tx, child.id, role="output")
                )
            else:
                run_rows.update_run(
                    tx,
                    child.id,
                    status="queued",
                    outcome=None,
                    error=None,
                    started_at=None,
                    ended_at=None,
                )
            steps[name] = result
    return PipelineRun(record.id, graph.pipeline.name, "running", values, tags, steps, store)


def heartbeat(store: Store, run_id: str) -> str:
    """Mark the run alive now; returns its status (``cancelled`` after ``gyre runs cancel``)."""
    with store.write() as tx:
        status = run_rows.get(tx, run_id).status
        run_rows.update_run(tx, run_id, heartbeat_at=time.time())
    return status


def finish_run(
    store: Store,
    run: PipelineRun,
    graph: PipelineGraph,
    started: set[str],
    *,
    cancel_reason: str | None,
    failed: bool,
) -> list[StepResult]:
    """Record how the run ended; the steps it never started are skipped, and returned."""
    now = time.time()
    skipped = []
    with store.write() as tx:
        for name, result in run.steps.items():
            if name not in started and result.status == "queued":
                failed_up = sorted(
                    up
                    for up in graph.nodes[name].upstream
                    if run.steps[up].outcome in ("failed", "skipped")
                )
                result.status, result.outcome = "skipped", "skipped"
                result.reason = (
                    f"upstream step {failed_up[0]} did not finish"
                    if failed_up
                    else "the run stopped before it"
                )
                run_rows.update_run(
                    tx, result.run_id, status="skipped", outcome="skipped", error=result.reason
                )
                skipped.append(result)
        if cancel_reason is not None:
            run.status, run.error = "cancelled", cancel_reason
        elif failed:
            failures = [s for s in run.steps.values() if s.outcome == "failed"]
            run.status = "failed"
            run.error = "; ".join(f"step {s.name!r} failed: {s.error}" for s in failures)
        else:
            run.status = "finished"
        run_rows.update_run(tx, run.id, status=run.status, ended_at=now, error=run.error)
    return skipped


# -- a step --------------------------------------------------------------------------------


def record_reuse(
    tx: Transaction,
    result: StepResult,
    node: Node,
    key: CacheKey,
    decision: ReuseDecision,
    *,
    datasets: dict[str, VersionRecord],
    done: Outputs,
    run_tags: dict[str, str],
) -> None:
    """The step is finished without running: it has the outputs of ``decision.source``, and
    the model versions that run registered (see ``gyre.registry.registrations``)."""
    from gyre.registry.registrations import carry_registrations

    source = decision.source
    assert source is not None
    now = time.time()
    run_rows.update_run(
        tx,
        result.run_id,
        status="finished",
        outcome="reused",
        started_at=now,
        ended_at=now,
        cache_key=key.digest,
        key_parts=key.parts,
        reused_from=source.id,
        log_digest=source.log_digest,
    )
    run_rows.set_params(tx, result.run_id, key.parts["params"])
    record_inputs(tx, result.run_id, node, datasets, done)
    carry_registrations(tx, source.id, result.run_id, run_tags)
    for output in decision.outputs:
        run_rows.add_artifact(
            tx,
            result.run_id,
            output.name,
            role="output",
            digest=output.digest,
            materializer=output.materializer,
            size=output.size,
            meta={**output.meta, "reused_from": source.id},
        )
    result.status, result.outcome = "finished", "reused"
    result.reused_from = source.id
    result.reason = decision.reason
    result.duration = 0.0
    result.outputs = by_output(node, decision.outputs)


def record_inputs(
    tx: Transaction,
    step_run_id: str,
    node: Node,
    datasets: dict[str, VersionRecord],
    done: Outputs,
) -> None:
    """The step's input artifacts: the dataset versions it reads (each also recorded as a use
    of the dataset) and the upstream outputs wired to its arguments."""
    from gyre.store import dataset_uses

    for arg, version in datasets.items():
        run_rows.add_artifact(
            tx,
            step_run_id,
            f"input:{arg}",
            role="input",
            digest=version.digest,
            materializer="dataset",
            size=version.size,
            meta={"dataset": version.dataset, "version": version.version},
        )
        dataset_uses.record_use(tx, step_run_id, version.dataset, version.version, "read")
    for arg, ref in node.inputs.items():
        rec = done[ref.node][ref.output]
        run_rows.add_artifact(
            tx,
            step_run_id,
            f"input:{arg}",
            role="input",
            digest=rec.digest,
            materializer=rec.materializer,
            size=rec.size,
            meta={**rec.meta, "from_step": ref.node, "from_output": ref.output},
        )


def record_start(
    store: Store,
    step_run_id: str,
    key: CacheKey,
    params: dict[str, Any],
    *,
    node: Node,
    datasets: dict[str, VersionRecord],
    done: Outputs,
) -> None:
    """The step's first attempt starts: its cache key, parameters and inputs."""
    with store.write() as tx:
        run_rows.update_run(
            tx,
            step_run_id,
            status="running",
            started_at=time.time(),
            cache_key=key.digest,
            key_parts=key.parts,
            pid=None,
        )
        run_rows.set_params(tx, step_run_id, {k: _param_value(v) for k, v in params.items()})
        record_inputs(tx, step_run_id, node, datasets, done)


def record_pid(store: Store, step_run_id: str, pid: int | None) -> None:
    """The process (local or Ray worker) that runs the step's current attempt."""
    with store.write() as tx:
        run_rows.update_run(tx, step_run_id, pid=pid)


def record_success(
    store: Store,
    result: StepResult,
    node: Node,
    outputs: dict[str, dict[str, Any]],
    *,
    log_digest: str | None,
) -> None:
    """The step ran and saved ``outputs`` (name -> digest, materializer, size, meta)."""
    with store.write() as tx:
        for name, saved in outputs.items():
            run_rows.add_artifact(
                tx,
                result.run_id,
                name,
                role="output",
                digest=saved["digest"],
                materializer=saved["materializer"],
                size=saved["size"],
                meta=saved["meta"],
            )
        run_rows.update_run(
            tx,
            result.run_id,
            status="finished",
            outcome="ran",
            ended_at=time.time(),
            log_digest=log_digest,
            error=None,
        )
        result.outputs = by_output(node, run_rows.get_artifacts(tx, result.run_id, role="output"))
    result.status, result.outcome = "finished", "ran"


def record_failure(
    store: Store,
    result: StepResult,
    status: str,
    error: str,
    *,
    log_digest: str | None,
) -> None:
    """The step's last attempt ended without outputs: ``status`` is failed or cancelled."""
    with store.write() as tx:
        run_rows.update_run(
            tx,
            result.run_id,
            status=status,
            outcome=status,
            ended_at=time.time(),
            error=error,
            log_digest=log_digest,
        )
    result.status, result.outcome, result.error = status, status, error


def store_log(store: Store, log_path: Path) -> str | None:
    """The step log's blob digest; None when the log cannot be read."""
    try:
        digest, _ = store.blobs.put_file(log_path)
    except OSError:
        return None
    return digest


def _param_value(value: Any) -> Any:
    if isinstance(value, Output):
        return {"output": value.name, "file": value.file}
    try:
        json.dumps(value)
    except TypeError:
        return repr(value)
    return value
