"""Run a pipeline: decide reuse step by step, execute the rest, record everything.

The run's own process schedules: it starts the steps whose inputs are ready, reusing the
outputs of an earlier run with the same cache key where it can, launches the others on an
executor (forked processes, see ``executors/local.py``; or Ray tasks) and waits for them. What
happened is written down by ``run_records``. Metadata is committed only after the blobs it
points at are durable, so a run killed at any moment leaves a consistent workspace that
``--resume`` continues.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from gyre.pipelines import reuse, run_records
from gyre.pipelines.cache_key import CacheKey
from gyre.pipelines.code_fingerprint import CodeFingerprinter, project_root
from gyre.pipelines.dataset_inputs import DatasetPins, dataset_args
from gyre.pipelines.dsl import Node
from gyre.pipelines.executors.local import Attempt, LocalExecutor
from gyre.pipelines.executors.pool import ExecutorPool
from gyre.pipelines.graph import build_graph
from gyre.pipelines.params import resolve_params
from gyre.pipelines.run_types import PipelineRun, RunObserver, RunRequest, StepResult
from gyre.pipelines.step_keys import key_for, node_params, param_sources
from gyre.pipelines.step_process import InputSpec, StepTask, read_result
from gyre.store import Store
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
            status, stored = run_records.status_and_params(store, request.resume)
            self.starts_queued = status == "queued"
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

    # -- main loop ---------------------------------------------------------------------------

    def run(self) -> PipelineRun:
        run = self._open_run()
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

    def _open_run(self) -> PipelineRun:
        """A new run, or the resumed one with the outputs of the steps it finished before."""
        if not self.request.resume:
            return run_records.create_run(self.store, self.request, self.graph, self.values)
        run = run_records.resume_run(
            self.store,
            self.request.resume,
            self.graph,
            self.values,
            starts_queued=self.starts_queued,
        )
        self.done = {n: s.outputs for n, s in run.steps.items() if s.status == "finished"}
        return run

    def _finish_run(self, run: PipelineRun, started: set[str]) -> None:
        skipped = run_records.finish_run(
            self.store,
            run,
            self.graph,
            started,
            cancel_reason=self.cancel_reason,
            failed=self.failed,
        )
        for result in skipped:  # the steps the run never started
            self.observer.step_changed(result)

    def _remote_executor(self, name: str) -> Any:
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
        status = run_records.heartbeat(self.store, run.id)
        if status == "cancelled" and self.cancel_reason is None:
            self.cancel_reason = "by gyre runs cancel"
            for attempt in executor.cancel_all(self.cancel_reason):
                self._finish_attempt(
                    run, executor, attempt, self.store.local_path("scratch", run.id)
                )

    # -- starting steps ----------------------------------------------------------------------

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
                        param_sources=param_sources(node),
                    )
                    if decision.source is not None:
                        run_records.record_reuse(
                            tx,
                            result,
                            node,
                            key,
                            decision,
                            datasets=dataset_args(node, self.values, self.pins),
                            done=self.done,
                            run_tags=self.request.tags,
                        )
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

    def _launch(
        self, executor: ExecutorPool, task: StepTask, result: StepResult, key: CacheKey
    ) -> None:
        result.attempts += 1
        if result.attempts == 1:
            run_records.record_start(
                self.store,
                result.run_id,
                key,
                task.params,
                node=task.node,
                datasets=dataset_args(task.node, self.values, self.pins),
                done=self.done,
            )
        result.status = "running"
        self.observer.step_changed(result)
        if task.scratch.exists():
            shutil.rmtree(task.scratch, ignore_errors=True)
        task.scratch.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{task.node.name}.log"
        attempt = executor.start(task, result.attempts, log_path)
        run_records.record_pid(self.store, result.run_id, attempt.pid)

    # -- steps that ended --------------------------------------------------------------------

    def _finish_attempt(
        self, run: PipelineRun, executor: ExecutorPool, attempt: Attempt, scratch_root: Path
    ) -> None:
        node = attempt.task.node
        result = run.steps[node.name]
        outcome = getattr(attempt, "result", None) or read_result(attempt.task)
        succeeded = attempt.exit_code == 0 and attempt.killed_for is None
        if succeeded and outcome is not None and "outputs" in outcome:
            log_digest = run_records.store_log(self.store, attempt.log_path)
            run_records.record_success(
                self.store, result, node, outcome["outputs"], log_digest=log_digest
            )
            result.duration = time.monotonic() - attempt.started
            self.done[result.name] = result.outputs
            self.observer.step_changed(result)
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
        log_digest = run_records.store_log(self.store, attempt.log_path)
        run_records.record_failure(self.store, result, status, error, log_digest=log_digest)
        if cancelled:
            result.reason = error  # not why it had started (e.g. "reuse is off")
        result.duration = time.monotonic() - attempt.started
        if not cancelled:
            self.failed = True
        self.observer.step_changed(result)


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
