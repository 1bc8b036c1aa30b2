"""The load generator's record, read back, and the figures of time windows in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Record:
    """Every request of one load run: start (wall-clock s), latency (s), status, version."""

    start: np.ndarray
    latency: np.ndarray
    status: np.ndarray
    version: np.ndarray
    cpu_s: float
    wall_s: float

    @classmethod
    def read(cls, path: Path) -> Record:
        lines = path.read_text().splitlines()
        cpu_s, wall_s = (float(x) for x in lines[-1].lstrip("# ").split())
        table = np.loadtxt(lines[:-1], ndmin=2) if len(lines) > 1 else np.zeros((0, 4))
        return cls(
            table[:, 0],
            table[:, 1],
            table[:, 2].astype(int),
            table[:, 3].astype(int),
            cpu_s,
            wall_s,
        )

    @property
    def end(self) -> np.ndarray:
        return self.start + self.latency

    @property
    def ok(self) -> np.ndarray:
        return (self.status >= 200) & (self.status < 300)

    def failed(self) -> int:
        """Non-2xx answers and client errors (refused, dropped, timed out)."""
        return int((~self.ok).sum())

    def between(self, since: float, until: float) -> np.ndarray:
        return (self.start >= since) & (self.start < until)

    def p99_ms(self, since: float, until: float) -> float:
        """p99 of the requests started in [since, until), failed ones included (a client
        waits for those too)."""
        chosen = self.latency[self.between(since, until)]
        if chosen.size == 0:
            return float("nan")
        return float(np.percentile(chosen, 99) * 1000)

    def count(self, since: float, until: float) -> int:
        return int(self.between(since, until).sum())

    def rate(self, since: float, until: float) -> float:
        return self.count(since, until) / (until - since) if until > since else float("nan")

    def last_answer_of(self, version: int) -> float | None:
        """When the last answer from ``version`` arrived (None: it never answered)."""
        mask = self.ok & (self.version == version)
        return float(self.end[mask].max()) if mask.any() else None

    def first_answer_of(self, version: int) -> float | None:
        mask = self.ok & (self.version == version)
        return float(self.end[mask].min()) if mask.any() else None
