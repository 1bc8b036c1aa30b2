"""What every run that ``gyre.log_*`` writes to has: its id, the step each metric is at, and
a metric buffer; where the points and records go (the workspace, a server) is the subclass's."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gyre.store.metrics import MetricPoint
from gyre.tracking.metric_buffer import MetricBuffer


class RunWriter(ABC):
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._steps: dict[str, int] = {}
        self.buffer = MetricBuffer(self._write_points)

    @property
    def id(self) -> str:
        return self.run_id

    def next_step(self, key: str, step: int | None) -> int:
        """``step``, or one past the key's last when None; remembers the highest."""
        last = self._steps.get(key, -1)
        if step is None:
            step = last + 1
        if step > last:
            self._steps[key] = step
        return step

    def close(self) -> None:
        self.buffer.close()

    @abstractmethod
    def _write_points(self, points: Sequence[MetricPoint]) -> None: ...

    @abstractmethod
    def log_params(self, values: dict[str, Any]) -> None: ...

    @abstractmethod
    def set_tags(self, values: dict[str, str]) -> None: ...

    @abstractmethod
    def log_artifact(self, source: Path, name: str) -> str: ...

    @abstractmethod
    def end(self, status: str, error: str | None) -> None:
        """Record the run as ended: finished, or failed with the error."""
