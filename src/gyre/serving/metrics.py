"""The scoring server's Prometheus metrics: requests, errors and latency per model version,
and the collector's accounting. Labelled children are looked up once and kept."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gyre_requests_total",
            "Scoring requests",
            ["model", "version", "route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "gyre_errors_total",
            "Failed requests",
            ["model", "version", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gyre_request_latency_seconds",
            "Request latency",
            ["model", "version", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.dropped = Gauge(
            "gyre_collector_dropped_rows",
            "Scored rows the collector could not record",
            registry=self.registry,
        )
        self.journaled = Gauge(
            "gyre_collector_journaled_rows", "Scored rows journaled", registry=self.registry
        )
        self.converted = Gauge(
            "gyre_collector_converted_rows",
            "Rows written to the inference dataset",
            registry=self.registry,
        )
        self.batches = Gauge(
            "gyre_batches_total",
            "Model calls made by the micro-batcher",
            ["model", "version"],
            registry=self.registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def observe(self, model: str, version: int, route: str, status: int, seconds: float) -> None:
        key = (model, version, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (model, str(version))
            children = (
                self.requests.labels(*labels, route, str(status)),
                self.latency.labels(*labels, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def error(self, model: str, version: int, kind: str) -> None:
        self.errors.labels(model, str(version), kind).inc()

    def exposition(self, served: Iterable[Any], journal: Any, converter: Any) -> bytes:
        """The ``/metrics`` body: the collector's and batchers' figures read now, then every
        metric in Prometheus' text format."""
        if journal is not None:
            self.dropped.set(journal.dropped)
            self.journaled.set(journal.written)
        if converter is not None:
            self.converted.set(converter.rows_converted)
        for model in served:
            if model.batcher is not None:
                self.batches.labels(model.name, str(model.version)).set(model.batcher.batches)
        body: bytes = generate_latest(self.registry)
        return body
