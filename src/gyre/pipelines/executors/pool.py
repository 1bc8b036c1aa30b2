"""Routes each step attempt to its compute target: local processes or a Ray cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gyre.pipelines.executors.local import LocalExecutor
from gyre.pipelines.step_process import StepTask

SLICE_S = 0.05


class ExecutorPool:
    def __init__(
        self,
        local: LocalExecutor,
        make_remote: Callable[[str], Any],
        run_compute: str | None = None,
    ) -> None:
        self.local = local
        self.make_remote = make_remote
        self.run_compute = run_compute
        self.remote: dict[str, Any] = {}

    def executor_for(self, task: StepTask) -> Any:
        name = self.run_compute or task.node.options.compute or "local"
        if name == "local":
            return self.local
        if name not in self.remote:
            self.remote[name] = self.make_remote(name)
        return self.remote[name]

    @property
    def running(self) -> dict[Any, Any]:
        merged: dict[Any, Any] = dict(self.local.running)
        for executor in self.remote.values():
            merged.update(executor.running)
        return merged

    def check_satisfiable(self, task: StepTask) -> None:
        self.executor_for(task).check_satisfiable(task)

    def fits(self, task: StepTask) -> bool:
        return bool(self.executor_for(task).fits(task))

    def start(self, task: StepTask, number: int, log_path: Path) -> Any:
        return self.executor_for(task).start(task, number, log_path)

    def wait(self, timeout: float = 1.0) -> list[Any]:
        busy = [e for e in (self.local, *self.remote.values()) if e.running]
        if len(busy) <= 1:
            return list(busy[0].wait(timeout)) if busy else []
        ended: list[Any] = []
        waited = 0.0
        while not ended and waited < timeout:
            for executor in busy:
                ended.extend(executor.wait(SLICE_S))
            waited += SLICE_S * len(busy)
        return ended

    def cancel_all(self, reason: str) -> list[Any]:
        ended = list(self.local.cancel_all(reason))
        for executor in self.remote.values():
            ended.extend(executor.cancel_all(reason))
        return ended

    def close(self) -> None:
        self.local.close()
        for executor in self.remote.values():
            executor.close()
