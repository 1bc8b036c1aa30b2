"""The Ray executor: steps as Ray tasks with CPU, GPU and memory requests.

gyre does not grow a cluster of its own: any Ray cluster serves (``ray://HOST:10001`` through
Ray Client, or ``auto`` for a cluster running on this host). Workers are Ray's own processes,
reused between tasks; a step with ``isolate=True`` gets a fresh one (``max_calls=1``). On a
cluster of this host alone, workers read the project folder and append to the step logs in
place, and the tasks are submitted by the warm driver, a process that stays up between runs
(``warm_driver``); otherwise this process drives Ray, the project folder travels as Ray's
runtime-environment working directory and logs come back through a Ray queue (see
``connection``). Either way the Ray calls are those of ``tasks``. A step's
requirements become the task's pip environment, built once per requirements hash by Ray.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gyre.errors import InvalidPipeline, MissingExtra, WorkspaceError
from gyre.pipelines.executors.ray import warm_driver
from gyre.pipelines.executors.ray.connection import (
    check_reachable,
    connect,
    ray_module,
    worker_used,
)
from gyre.pipelines.executors.ray.tasks import RayTasks
from gyre.pipelines.step_process import StepTask
from gyre.store import Store
from gyre.store.compute import ComputeTarget

LOG_POLL_S = 0.25  # how often a running step's new output is passed on


@dataclass
class RayAttempt:
    task: StepTask
    number: int
    log_path: Path
    ref: Any = None
    pid: int = 0
    started: float = 0.0
    killed_for: str | None = None
    exit_code: int | None = None
    result: dict[str, Any] | None = None
    streamed: bool = False
    log_file: Any = field(default=None, repr=False)
    log_offset: int = 0  # how much of the log file (same host) has reached ``on_output``


class RayExecutor:
    """Submits attempts as Ray tasks; ``wait`` returns the ones that ended."""

    def __init__(
        self,
        store: Store,
        target: ComputeTarget,
        *,
        project_root: Path,
        pipeline_file: Path,
        pipeline_name: str,
        params: dict[str, Any],
        on_output: Any,
    ) -> None:
        self.store = store
        self.target = target
        self.on_output = on_output
        self.running: dict[Any, RayAttempt] = {}
        self.queue: Any = None
        if importlib.util.find_spec("ray") is None:  # before anything is started for it
            raise MissingExtra("ray", "ray", "Running steps on a Ray compute target")
        check_reachable(target.address)
        warm = warm_driver.attach(target.address, project_root)
        self.tasks: RayTasks | warm_driver.WarmDriverClient
        if warm is not None:  # a driver of this host that stays up between runs
            self.tasks, hosts, same_host = warm, warm.hosts, True
        else:
            connection = connect(target.address, project_root)
            self.tasks = RayTasks(ray_module())
            hosts, same_host = connection.hosts, connection.same_host
        if store.settings.embedded and hosts > 1:
            raise WorkspaceError(
                f"Compute target {target.name!r} spans {hosts} hosts, but this "
                f"workspace is embedded ({store.settings.local_dir}): workers on other hosts "
                "cannot reach its SQLite file and blobs. Use a shared workspace: "
                "GYRE_URI=postgresql://... with GYRE_ARTIFACTS=s3://... (see docs/scale.md)."
            )
        pipeline_path = pipeline_file.resolve()
        if same_host:  # workers read the project and write logs in place
            where = {"project_root": str(project_root.resolve())}
            pipeline_ref = str(pipeline_path)
        else:
            from ray.util.queue import Queue

            self.queue = Queue(maxsize=10_000)
            where = {}
            pipeline_ref = pipeline_path.relative_to(project_root.resolve()).as_posix()
        self.spec = {
            **where,
            "pipeline_file": pipeline_ref,
            "pipeline": pipeline_name,
            "params": {
                k: str(v) if getattr(v, "_gyre_dataset", False) else v for k, v in params.items()
            },
            "settings": {
                "embedded": store.settings.embedded,
                "db_url": store.settings.db_url,
                "artifacts_url": store.settings.artifacts_url,
                "artifacts_options": store.settings.artifacts_options,
                "local_dir": str(store.settings.local_dir),
            },
        }
        self._nodes = self.tasks.node_resources()

    # -- the executor interface the runner uses ---------------------------------------------

    def check_satisfiable(self, task: StepTask) -> None:
        resources = task.node.options.resources
        need = {
            "CPU": resources.cpus,
            "GPU": float(resources.gpus),
            "memory": float(resources.memory or 0),
        }
        for node in self._nodes:
            if all(node.get(k, 0.0) >= v for k, v in need.items() if v):
                return
        largest = max(self._nodes, key=lambda n: n.get("CPU", 0.0)) if self._nodes else {}
        raise InvalidPipeline(
            f"Step {task.node.name!r} asks for {resources.cpus:g} CPU, {resources.gpus} GPU and "
            f"{(resources.memory or 0) / 1e9:.1f} GB, which no node of compute target "
            f"{self.target.name!r} has (its largest: {largest.get('CPU', 0):g} CPU, "
            f"{largest.get('GPU', 0):g} GPU, {largest.get('memory', 0) / 1e9:.1f} GB). Lower "
            "the request or add a bigger node."
        )

    def fits(self, task: StepTask) -> bool:
        return True  # Ray queues tasks until the cluster has room

    def start(self, task: StepTask, number: int, log_path: Path) -> RayAttempt:
        options = task.node.options
        resources = options.resources
        task_options: dict[str, Any] = {
            "num_cpus": resources.cpus,
            "num_gpus": resources.gpus,
            "max_retries": 0,
        }
        if resources.memory:
            task_options["memory"] = resources.memory
        if options.requirements:
            base = Path(task.node.defined_at.rsplit(":", 1)[0]).parent
            lines = (base / options.requirements).read_text().splitlines()
            task_options["runtime_env"] = {
                "pip": [line for line in lines if line.strip() and not line.startswith("#")]
            }
        spec = {
            **self.spec,
            "node": task.node.name,
            "step_run_id": task.step_run_id,
            "inputs": {k: v.__dict__ for k, v in task.inputs.items()},
            "key": f"{task.step_run_id}:{number}",
            "env": task.env,
        }
        log_path.parent.mkdir(parents=True, exist_ok=True)
        attempt = RayAttempt(task, number, log_path, started=time.monotonic())
        attempt.log_file = open(log_path, "ab")  # noqa: SIM115 - closed when the attempt ends
        if number > 1:
            attempt.log_file.write(f"--- attempt {number} ---\n".encode())
        attempt.log_file.flush()
        if self.queue is None:  # the worker appends to the log file itself
            spec["log_path"] = str(log_path)
            attempt.log_offset = attempt.log_file.tell()
            attempt.streamed = True
        attempt.ref = self.tasks.submit(spec, task_options, options.isolate, self.queue)
        self.running[attempt.ref] = attempt
        return attempt

    def _drain_logs(self) -> None:
        if self.queue is None:
            for attempt in self.running.values():
                self._tail(attempt)
            return
        by_key = {f"{a.task.step_run_id}:{a.number}": a for a in self.running.values()}
        while True:
            try:
                key, chunk = self.queue.get_nowait()
            except Exception:  # empty
                return
            owner = by_key.get(key)
            if owner is None:
                continue
            owner.streamed = True
            owner.log_file.write(chunk)
            owner.log_file.flush()
            self.on_output(owner.task.node.name, chunk)

    def _tail(self, attempt: RayAttempt) -> None:
        """Same host: pass on what the worker appended to the log file since the last look."""
        try:
            size = os.stat(attempt.log_path).st_size
        except OSError:
            return
        if size <= attempt.log_offset:
            return
        with open(attempt.log_path, "rb") as log:
            log.seek(attempt.log_offset)
            chunk = log.read(size - attempt.log_offset)
        attempt.log_offset += len(chunk)
        self.on_output(attempt.task.node.name, chunk)

    def wait(self, timeout: float = 1.0) -> list[RayAttempt]:
        self._drain_logs()
        if not self.running:
            return []
        ready = self.tasks.wait(list(self.running), min(timeout, LOG_POLL_S))
        self._drain_logs()
        ended = []
        for ref, outcome in ready:
            attempt = self.running.pop(ref)
            if self.queue is None:
                self._tail(attempt)
            if outcome.result is not None:
                attempt.result = outcome.result
                attempt.exit_code = 0 if "outputs" in outcome.result else 1
            elif outcome.cancelled:
                attempt.exit_code = 1
                attempt.result = {"error": attempt.killed_for or "cancelled"}
            else:
                attempt.exit_code = 1
                attempt.result = {"error": f"the Ray worker failed: {outcome.error}"}
                attempt.log_file.write(outcome.error_text.encode())
            if attempt.result and not attempt.streamed and attempt.result.get("log"):
                attempt.log_file.write(attempt.result["log"].encode())
                self.on_output(attempt.task.node.name, attempt.result["log"].encode())
            attempt.pid = int((attempt.result or {}).get("pid") or 0)
            worker_used(attempt.pid)
            attempt.log_file.close()
            ended.append(attempt)
        return ended

    def cancel_all(self, reason: str) -> list[RayAttempt]:
        for attempt in self.running.values():
            attempt.killed_for = reason
            self.tasks.cancel(attempt.ref)
        ended: list[RayAttempt] = []
        deadline = time.monotonic() + 30
        while self.running and time.monotonic() < deadline:
            ended.extend(self.wait(0.5))
        return ended

    def close(self) -> None:
        self._drain_logs()
        if isinstance(self.tasks, warm_driver.WarmDriverClient):
            self.tasks.close()
