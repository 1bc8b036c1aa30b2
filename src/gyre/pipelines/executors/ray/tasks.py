"""The Ray calls of a driver: submit step attempts as tasks, wait for them, cancel them.

Used in the process that holds the Ray connection: a run's own process, or the warm driver
(``warm_driver``) that runs tasks for runs started in other processes. Outcomes are plain
data, so that they can travel between those processes unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """How a task ended: its result, or cancelled, or the Ray error that ended it."""

    result: dict[str, Any] | None = None
    cancelled: bool = False
    error: str | None = None  # "ErrorType: first line"
    error_text: str = ""  # the whole error, for the step log


class RayTasks:
    def __init__(self, ray: Any) -> None:
        from gyre.pipelines.executors.ray.worker import run_step

        self.ray = ray
        self._remote = ray.remote(run_step)
        self._isolated = ray.remote(max_calls=1)(run_step)  # a fresh worker per task

    def node_resources(self) -> list[dict[str, float]]:
        return [n["Resources"] for n in self.ray.nodes() if n["Alive"]]

    def submit(
        self, spec: dict[str, Any], options: dict[str, Any], isolate: bool, queue: Any
    ) -> Any:
        remote = self._isolated if isolate else self._remote
        return remote.options(**options).remote(spec, queue)

    def wait(self, refs: list[Any], timeout: float) -> list[tuple[Any, Outcome]]:
        """The tasks among ``refs`` that ended within ``timeout`` (at most one), with outcomes."""
        if not refs:
            return []
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        return [(ref, self._outcome(ref)) for ref in ready]

    def _outcome(self, ref: Any) -> Outcome:
        try:
            return Outcome(result=self.ray.get(ref))
        except self.ray.exceptions.TaskCancelledError:
            return Outcome(cancelled=True)
        except self.ray.exceptions.RayError as exc:
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            return Outcome(error=f"{type(exc).__name__}: {first}", error_text=f"{exc}\n")

    def cancel(self, ref: Any) -> None:
        self.ray.cancel(ref, force=True)
