"""The Ray executor: steps as Ray tasks with CPU, GPU and memory requests.

gyre does not grow a cluster of its own: any Ray cluster serves (``ray://HOST:10001`` through
Ray Client, or ``auto`` for a cluster running on this host). Workers are Ray's own processes,
reused between tasks; a step with ``isolate=True`` gets a fresh one (``max_calls=1``). The
project folder travels as Ray's runtime-environment working directory; a step's requirements
become the task's pip environment, built once per requirements hash by Ray.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gyre.errors import GyreError, InvalidPipeline, MissingExtra, WorkspaceError
from gyre.pipelines.step_process import StepTask
from gyre.store import Store
from gyre.store.compute import ComputeTarget

CONNECT_TIMEOUT_S = 5.0


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


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra("ray", "ray", "Running steps on a Ray compute target") from exc
    return ray


def check_reachable(address: str) -> None:
    """Fail fast, naming the address, when nothing answers there."""
    if address in ("auto", "local"):
        return
    host_port = address.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S):
            return
    except (OSError, ValueError) as exc:
        raise GyreError(
            f"The Ray cluster at {address} cannot be reached ({exc}). Check that it runs "
            "(ray start --head) and that the address is ray://HOST:10001 or auto."
        ) from None


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
        self.ray = _ray()
        self.store = store
        self.target = target
        self.on_output = on_output
        self.running: dict[Any, RayAttempt] = {}
        check_reachable(target.address)
        excludes = [".gyre", ".venv", ".git", "**/__pycache__", ".demo", ".bench-cache", "data"]
        runtime_env = {"working_dir": str(project_root), "excludes": excludes}
        try:
            self.ray.init(
                address=target.address,
                namespace="gyre",
                ignore_reinit_error=True,
                log_to_driver=False,
                runtime_env=runtime_env,
                logging_level="ERROR",
            )
        except ConnectionError as exc:
            raise GyreError(
                f"The Ray cluster at {target.address} cannot be reached: {exc}"
            ) from None
        hosts = {n["NodeManagerAddress"] for n in self.ray.nodes() if n["Alive"]}
        if store.settings.embedded and len(hosts) > 1:
            raise WorkspaceError(
                f"Compute target {target.name!r} spans {len(hosts)} hosts, but this workspace is "
                f"embedded ({store.settings.local_dir}): workers on other hosts cannot reach its "
                "SQLite file and blobs. Use a shared workspace: GYRE_URI=postgresql://... with "
                "GYRE_ARTIFACTS=s3://... (see docs/scale.md)."
            )
        from ray.util.queue import Queue

        self.queue = Queue(maxsize=10_000)
        self.spec = {
            "pipeline_file": pipeline_file.resolve().relative_to(project_root.resolve()).as_posix(),
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
        from gyre.pipelines.executors.ray_worker import run_step

        self._remote = self.ray.remote(run_step)
        self._isolated = self.ray.remote(max_calls=1)(run_step)  # a fresh worker per task
        self._nodes = [n["Resources"] for n in self.ray.nodes() if n["Alive"]]

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
        remote = self._isolated if options.isolate else self._remote
        attempt.ref = remote.options(**task_options).remote(spec, self.queue)
        self.running[attempt.ref] = attempt
        return attempt

    def _drain_logs(self) -> None:
        by_key = {f"{a.task.step_run_id}:{a.number}": a for a in self.running.values()}
        while True:
            try:
                key, chunk = self.queue.get_nowait()
            except Exception:  # empty
                return
            attempt = by_key.get(key)
            if attempt is None:
                continue
            attempt.streamed = True
            attempt.log_file.write(chunk)
            attempt.log_file.flush()
            self.on_output(attempt.task.node.name, chunk)

    def wait(self, timeout: float = 1.0) -> list[RayAttempt]:
        self._drain_logs()
        if not self.running:
            return []
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=timeout)
        self._drain_logs()
        ended = []
        for ref in ready:
            attempt = self.running.pop(ref)
            try:
                attempt.result = self.ray.get(ref)
                attempt.exit_code = 0 if "outputs" in attempt.result else 1
            except self.ray.exceptions.TaskCancelledError:
                attempt.exit_code = 1
                attempt.result = {"error": attempt.killed_for or "cancelled"}
            except self.ray.exceptions.RayError as exc:
                attempt.exit_code = 1
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                attempt.result = {"error": f"the Ray worker failed: {type(exc).__name__}: {first}"}
                attempt.log_file.write(f"{exc}\n".encode())
            if attempt.result and not attempt.streamed and attempt.result.get("log"):
                attempt.log_file.write(attempt.result["log"].encode())
                self.on_output(attempt.task.node.name, attempt.result["log"].encode())
            attempt.pid = int((attempt.result or {}).get("pid") or 0)
            attempt.log_file.close()
            ended.append(attempt)
        return ended

    def cancel_all(self, reason: str) -> list[RayAttempt]:
        for attempt in self.running.values():
            attempt.killed_for = reason
            self.ray.cancel(attempt.ref, force=True)
        ended: list[RayAttempt] = []
        deadline = time.monotonic() + 30
        while self.running and time.monotonic() < deadline:
            ended.extend(self.wait(0.5))
        return ended

    def close(self) -> None:
        self._drain_logs()
