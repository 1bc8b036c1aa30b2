"""Run a pipeline: decide reuse step by step, execute the rest, record everything.

The run's own process schedules; steps run in forked processes (see ``executors/local.py``).
Metadata is committed only after the blobs it points at are durable, so a run killed at any
moment leaves a consistent workspace that ``--resume`` continues.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from gyre.errors import InvalidPipeline
from gyre.pipelines import reuse
from gyre.pipelines.cache_key import CacheKey
from gyre.pipelines.code_fingerprint import CodeFingerprinter, project_root
from gyre.pipelines.dataset_inputs import DatasetPins, dataset_args
from gyre.pipelines.dsl import Node, Output
from gyre.pipelines.executors.local import Attempt, LocalExecutor
from gyre.pipelines.executors.pool import ExecutorPool
from gyre.pipelines.graph import build_graph
from gyre.pipelines.params import resolve_params
from gyre.pipelines.run_types import PipelineRun, RunObserver, RunRequest, StepResult
from gyre.pipelines.step_keys import key_for, node_params
from gyre.pipelines.step_process import InputSpec, StepTask, read_result
from gyre.store import Store
from gyre.store import runs as run_rows
from gyre.store.runs import ArtifactRecord

HEARTBEAT_S = 1.0


def run_pipeline(
    request: RunRequest, store: Store, observer: RunObserver | None = None
) -> PipelineRun:
    return _Runner(request, store, observer or RunObserver()).run()


class _Runner:
    def __init__(self, request: RunRequest, store: Store, observer: RunObserver) -> None:
        self.request = request
        self.store = store
        self.observer = observer
        self.pipeline = request.pipeline
        self.starts_queued = False  # a submitted run, queued until now, starts here
        if request.resume:
            with store.read() as tx:
                record = run_rows.get(tx, request.resume)
                stored = run_rows.get_params(tx, record.id)
            self.starts_queued = record.status == "queued"
            chosen = request.params if self.starts_queued else stored
            self.values = resolve_params(request.pipeline, chosen)
        else:
            self.values = resolve_params(request.pipeline, request.params)
        self.pins = DatasetPins(store)
        self.values = self.pins.pin_values(self.values)
        self.graph = build_graph(request.pipeline, self.values)
        pipeline_file = Path(request.pipeline.defined_at.rsplit(":", 1)[0])
        self.fingerprinter = CodeFingerprinter(project_root(pipeline_file))
        self.done: dict[str, dict[str, ArtifactRecord]] = {}
        self.keys: dict[str, CacheKey] = {}
        self.failed = False
        self.cancel_reason: str | None = None

    # -- set-up ------------------------------------------------------------------------------

    def _create_run(self) -> PipelineRun:
        from gyre.tracking.run_environment import run_facts

        request = self.request
        facts = run_facts(Path(self.pipeline.defined_at.rsplit(":", 1)[0]).parent)
        steps: dict[str, StepResult] = {}
        with self.store.write() as tx:
            run_id = run_rows.create(
                tx,
                kind="pipeline",
                name=self.pipeline.name,
                experiment=request.experiment or self.pipeline.name,
                source=request.source or self.pipeline.defined_at,
                run_id=request.run_id,
                heartbeat_at=time.time(),
                **facts,
            )
            run_rows.set_params(tx, run_id, self.values)
            run_rows.set_tags(tx, run_id, request.tags)
            for name in self.graph.order:
                step_id = run_rows.create(
                    tx,
                    kind="step",
                    name=name,
                    experiment=request.experiment or self.pipeline.name,
                    parent_id=run_id,
                    status="queued",
                    host=facts["host"],
                    python=facts["python"],
                    git_commit=facts["git_commit"],
                    git_dirty=facts["git_dirty"],
                )
                steps[name] = StepResult(name, step_id)
        return PipelineRun(
            run_id, self.pipeline.name, "running", self.values, request.tags, steps, self.store
        )

    def _resume_run(self, run_id: str) -> PipelineRun:
        with self.store.write() as tx:
            record = run_rows.get(tx, run_id)
            if record.kind != "pipeline":
                raise InvalidPipeline(
                    f"Run {run_id} is a {record.kind} run; resume a pipeline run."
                )
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
            if self.starts_queued:
                from gyre.tracking.run_environment import run_facts

                folder = Path(self.pipeline.defined_at.rsplit(":", 1)[0]).parent
                run_rows.update_run(tx, record.id, started_at=time.time(), **run_facts(folder))
                run_rows.set_params(tx, record.id, self.values)
            steps: dict[str, StepResult] = {}
            existing = {child.name: child for child in run_rows.children(tx, record.id)}
            for name in self.graph.order:
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
                        self.graph.nodes[name],
                        run_rows.get_artifacts(tx, child.id, role="output"),
                    )
                    self.done[name] = result.outputs
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
        return PipelineRun(
            record.id, self.pipeline.name, "running", self.values, tags, steps, self.store
        )

    # -- main loop ---------------------------------------------------------------------------

    def run(self) -> PipelineRun:
        run = self._resume_run(self.request.resume) if self.request.resume else self._create_run()
        self.observer.run_started(run, self.graph)
        local = LocalExecutor(
            self.store, slots=self.request.parallel, on_output=self.observer.step_output
        )
        executor = ExecutorPool(local, self._remote_executor, self.request.compute)
        scratch_root = self.store.local_path("scratch", run.id)
        self.log_dir = self.store.local_path("logs", run.id)
        started: set[str] = set(self.done)
        last_beat = time.monotonic()
        try:
            while True:
                if not self.failed and self.cancel_reason is None:
                    self._start_ready(run, executor, started, scratch_root)
                if not executor.running:
                    break
                for attempt in executor.wait(HEARTBEAT_S):
                    self._finish_attempt(run, executor, attempt, scratch_root)
                if time.monotonic() - last_beat >= HEARTBEAT_S:
                    last_beat = time.monotonic()
                    self._heartbeat(run, executor)
        except KeyboardInterrupt:
            self.cancel_reason = "interrupted (Ctrl-C)"
            for attempt in executor.cancel_all(self.cancel_reason):
                self._finish_attempt(run, executor, attempt, scratch_root)
        finally:
            executor.close()
        self._finish_run(run, started)
        shutil.rmtree(scratch_root, ignore_errors=True)
        self.observer.run_finished(run)
        return run

    def _remote_executor(self, name: str) -> Any:
        from gyre.pipelines.code_fingerprint import project_root
        from gyre.pipelines.executors.ray.executor import RayExecutor
        from gyre.store import compute

        with self.store.read() as tx:
            target = compute.get(tx, name)
        pipeline_file = Path(self.pipeline.defined_at.rsplit(":", 1)[0])
        return RayExecutor(
            self.store,
            target,
            project_root=project_root(pipeline_file),
            pipeline_file=pipeline_file,
            pipeline_name=self.pipeline.name,
            params=self.values,
            on_output=self.observer.step_output,
        )

    def _heartbeat(self, run: PipelineRun, executor: ExecutorPool) -> None:
        with self.store.write() as tx:
            status = run_rows.get(tx, run.id).status
            run_rows.update_run(tx, run.id, heartbeat_at=time.time())
        if status == "cancelled" and self.cancel_reason is None:
            self.cancel_reason = "by gyre runs cancel"
            for attempt in executor.cancel_all(self.cancel_reason):
                self._finish_attempt(
                    run, executor, attempt, self.store.local_path("scratch", run.id)
                )

    def _ready(self, started: set[str]) -> list[Node]:
        return [
            self.graph.nodes[name]
            for name in self.graph.order
            if name not in started
            and all(up in self.done for up in self.graph.nodes[name].upstream)
        ]

    def _start_ready(
        self, run: PipelineRun, executor: ExecutorPool, started: set[str], scratch_root: Path
    ) -> None:
        progressed = True
        while progressed:
            progressed = False
            for node in self._ready(started):
                result = run.steps[node.name]
                key = key_for(node, self.values, self.done, self.fingerprinter, self.pins)
                self.keys[node.name] = key
                with self.store.write() as tx:
                    decision = reuse.decide(
                        tx,
                        self.store.blobs,
                        pipeline=self.pipeline.name,
                        step=node.name,
                        key=key,
                        reuse_allowed=node.options.reuse,
                        remove_corrupt=True,
                    )
                    if decision.source is not None:
                        self._record_reuse(tx, node, result, key, decision)
                if decision.source is not None:
                    started.add(node.name)
                    self.done[node.name] = result.outputs
                    self.observer.step_changed(result)
                    progressed = True
                    continue
                task = self._task(run, node, scratch_root)
                executor.check_satisfiable(task)
                if not executor.fits(task):
                    continue
                started.add(node.name)
                result.reason = decision.reason
                self._launch(executor, task, result, key)
                progressed = True

    def _task(self, run: PipelineRun, node: Node, scratch_root: Path) -> StepTask:
        inputs = {
            arg: InputSpec(rec.materializer, rec.digest, rec.meta)
            for arg, ref in node.inputs.items()
            for rec in [self.done[ref.node][ref.output]]
        }
        for arg, version in dataset_args(node, self.values, self.pins).items():
            inputs[arg] = InputSpec(
                "dataset",
                version.digest,
                {"dataset": version.dataset, "version": version.version, "layout": version.layout},
            )
        return StepTask(
            node=node,
            step_run_id=run.steps[node.name].run_id,
            params=node_params(node, self.values),
            inputs=inputs,
            scratch=scratch_root / node.name,
        )

    def _record_reuse(
        self,
        tx: Any,
        node: Node,
        result: StepResult,
        key: CacheKey,
        decision: reuse.ReuseDecision,
    ) -> None:
        assert decision.source is not None
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
            reused_from=decision.source.id,
            log_digest=decision.source.log_digest,
        )
        run_rows.set_params(tx, result.run_id, key.parts["params"])
        self._record_inputs(tx, node, result.run_id)
        self._carry_registrations(tx, decision.source.id, result.run_id)
        for output in decision.outputs:
            run_rows.add_artifact(
                tx,
                result.run_id,
                output.name,
                role="output",
                digest=output.digest,
                materializer=output.materializer,
                size=output.size,
                meta={**output.meta, "reused_from": decision.source.id},
            )
        result.status, result.outcome = "finished", "reused"
        result.reused_from = decision.source.id
        result.reason = decision.reason
        result.duration = 0.0
        result.outputs = by_output(node, decision.outputs)

    def _carry_registrations(self, tx: Any, source_run: str, step_run_id: str) -> None:
        """A reused registration step: the model versions it registered get this run's tags
        (build=3 met by build 4 becomes build=3,4) and are linked to this run; no second
        version is made."""
        from gyre.store import models as model_rows

        for name, version in model_rows.registered_by(tx, source_run):
            current = model_rows.get_version(tx, name, version).tags
            merged = {
                key: value
                if not current.get(key) or value in current[key].split(",")
                else f"{current[key]},{value}"
                for key, value in self.request.tags.items()
            }
            model_rows.set_tags(tx, name, version, merged)
            model_rows.record_registration(tx, step_run_id, name, version)

    def _record_inputs(self, tx: Any, node: Node, step_run_id: str) -> None:
        from gyre.store import dataset_uses

        for arg, version in dataset_args(node, self.values, self.pins).items():
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
            rec = self.done[ref.node][ref.output]
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

    def _launch(
        self, executor: ExecutorPool, task: StepTask, result: StepResult, key: CacheKey
    ) -> None:
        result.attempts += 1
        if result.attempts == 1:
            with self.store.write() as tx:
                run_rows.update_run(
                    tx,
                    result.run_id,
                    status="running",
                    started_at=time.time(),
                    cache_key=key.digest,
                    key_parts=key.parts,
                    pid=None,
                )
                params = {k: _param_value(v) for k, v in task.params.items()}
                run_rows.set_params(tx, result.run_id, params)
                self._record_inputs(tx, task.node, result.run_id)
        result.status = "running"
        self.observer.step_changed(result)
        if task.scratch.exists():
            shutil.rmtree(task.scratch, ignore_errors=True)
        task.scratch.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{task.node.name}.log"
        attempt = executor.start(task, result.attempts, log_path)
        with self.store.write() as tx:
            run_rows.update_run(tx, result.run_id, pid=attempt.pid)

    def _finish_attempt(
        self, run: PipelineRun, executor: ExecutorPool, attempt: Attempt, scratch_root: Path
    ) -> None:
        node = attempt.task.node
        result = run.steps[node.name]
        outcome = getattr(attempt, "result", None) or read_result(attempt.task)
        succeeded = attempt.exit_code == 0 and attempt.killed_for is None
        if succeeded and outcome is not None and "outputs" in outcome:
            self._record_success(result, attempt, outcome["outputs"])
            return
        error = attempt.killed_for or (outcome or {}).get("error") or _exit_reason(attempt)
        retryable = attempt.killed_for is None or attempt.killed_for.startswith("timed out")
        if retryable and self.cancel_reason is None and result.attempts <= node.options.retries:
            result.reason = f"attempt {result.attempts} failed ({error}); retrying"
            self.observer.step_changed(result)
            self._launch(executor, attempt.task, result, self.keys[node.name])
            return
        cancelled = self.cancel_reason is not None and attempt.killed_for == self.cancel_reason
        status = "cancelled" if cancelled else "failed"
        log_digest = self._store_log(attempt)
        with self.store.write() as tx:
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
        if cancelled:
            result.reason = error  # not why it had started (e.g. "reuse is off")
        result.duration = time.monotonic() - attempt.started
        if not cancelled:
            self.failed = True
        self.observer.step_changed(result)

    def _record_success(
        self, result: StepResult, attempt: Attempt, outputs: dict[str, dict[str, Any]]
    ) -> None:
        log_digest = self._store_log(attempt)
        with self.store.write() as tx:
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
            result.outputs = by_output(
                self.graph.nodes[result.name],
                run_rows.get_artifacts(tx, result.run_id, role="output"),
            )
        result.status, result.outcome = "finished", "ran"
        result.duration = time.monotonic() - attempt.started
        self.done[result.name] = result.outputs
        self.observer.step_changed(result)

    def _store_log(self, attempt: Attempt) -> str | None:
        try:
            digest, _ = self.store.blobs.put_file(attempt.log_path)
        except OSError:
            return None
        return digest

    def _finish_run(self, run: PipelineRun, started: set[str]) -> None:
        now = time.time()
        with self.store.write() as tx:
            for name, result in run.steps.items():
                if name not in started and result.status == "queued":
                    failed_up = sorted(
                        up
                        for up in self.graph.nodes[name].upstream
                        if run.steps[up].outcome in ("failed", "skipped")
                    )
                    result.status, result.outcome = "skipped", "skipped"
                    result.reason = (
                        f"upstream step {failed_up[0]} did not finish"
                        if failed_up
                        else "the run stopped before it"
                    )
                    run_rows.update_run(
                        tx,
                        result.run_id,
                        status="skipped",
                        outcome="skipped",
                        error=result.reason,
                    )
                    self.observer.step_changed(result)
            if self.cancel_reason is not None:
                run.status, run.error = "cancelled", self.cancel_reason
            elif self.failed:
                failed = [s for s in run.steps.values() if s.outcome == "failed"]
                run.status = "failed"
                run.error = "; ".join(f"step {s.name!r} failed: {s.error}" for s in failed)
            else:
                run.status = "finished"
            run_rows.update_run(tx, run.id, status=run.status, ended_at=now, error=run.error)


def _param_value(value: Any) -> Any:
    if isinstance(value, Output):
        return {"output": value.name, "file": value.file}
    try:
        json.dumps(value)
    except TypeError:
        return repr(value)
    return value


def _exit_reason(attempt: Attempt) -> str:
    code = attempt.exit_code
    if code is not None and code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"the step process was killed by {name}"
    return f"the step process exited with code {code}"


def by_output(node: Node, artifacts: list[ArtifactRecord]) -> dict[str, ArtifactRecord]:
    """A step's output artifacts by the output names its downstream steps use. A step with
    one undeclared output may name its artifact through ``gyre.output_dir("model")``: the
    artifact is then called ``model`` and still wired as the step's ``output``."""
    found = {a.name: a for a in artifacts}
    names = node.options.outputs
    if len(names) == 1 and names[0] not in found and len(artifacts) == 1:
        return {names[0]: artifacts[0]}
    return found
