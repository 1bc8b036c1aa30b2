"""A canary's health, read from the endpoint's own Prometheus ``/metrics``.

A snapshot holds, for one model version, the request count, the server-error count and the
latency histogram's buckets; the difference of two snapshots is what that version did in
between: its requests, its error rate (5xx answers over all answers) and its p99 (the upper
bound of the histogram bucket where 99% of the requests fall, as Prometheus'
``histogram_quantile`` would place it, without interpolation). A serving process that restarted
in between has counters lower than the snapshot: the later figures are then counted from zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "gyre_requests"
LATENCY = "gyre_request_latency_seconds"


@dataclass
class Snapshot:
    requests: float = 0.0
    server_errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "server_errors": self.server_errors,
            "buckets": {repr(k): v for k, v in self.buckets.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            data["requests"],
            data["server_errors"],
            {float(k): v for k, v in data["buckets"].items()},
        )


@dataclass(frozen=True)
class Window:
    requests: int
    server_errors: int
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.server_errors / self.requests if self.requests else 0.0


def snapshot(url: str, model: str, version: int) -> Snapshot:
    """The version's counters now (routes of every protocol together; shadow copies apart)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    taken = Snapshot()
    wanted = {"model": model, "version": str(version)}
    for family in text_string_to_metric_families(text):
        if family.name not in (REQUESTS, LATENCY):
            continue
        for sample in family.samples:
            labels = sample.labels
            if any(labels.get(k) != v for k, v in wanted.items()):
                continue
            if labels.get("route") == "shadow":
                continue
            if sample.name == f"{REQUESTS}_total":
                taken.requests += sample.value
                if labels.get("status", "").startswith("5"):
                    taken.server_errors += sample.value
            elif sample.name == f"{LATENCY}_bucket":
                bound = float(labels["le"])
                taken.buckets[bound] = taken.buckets.get(bound, 0.0) + sample.value
    return taken


def window(before: Snapshot, after: Snapshot) -> Window:
    """What happened between two snapshots of the same version."""
    if after.requests < before.requests:  # the process restarted: count from zero
        before = Snapshot()
    requests = int(after.requests - before.requests)
    errors = int(after.server_errors - before.server_errors)
    counts = {
        bound: after.buckets.get(bound, 0.0) - before.buckets.get(bound, 0.0)
        for bound in after.buckets
    }
    return Window(requests, errors, _p99_ms(counts))


def _p99_ms(cumulative: dict[float, float]) -> float | None:
    if not cumulative:
        return None
    total = cumulative.get(math.inf) or max(cumulative.values())
    if total <= 0:
        return None
    for bound in sorted(cumulative):
        if cumulative[bound] >= 0.99 * total:
            return bound * 1000 if math.isfinite(bound) else math.inf
    return math.inf
