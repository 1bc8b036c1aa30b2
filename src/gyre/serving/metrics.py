"""The scoring server's Prometheus metrics: requests, errors and latency per model version,
and the collector's and micro-batchers' accounting. Labelled children are looked up once and
kept.

Names follow Prometheus' conventions: a count that only grows is a counter named ``*_total``.
The collector's and batchers' counts live in the objects that do the work (the journal, the
converter's state, each batcher); :class:`_Figures` reads them at each scrape and exposes them
as counters, so no number is copied into a second place that could fall behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# name (without _total), help, where the figure is read: ("journal" | "converter", attribute)
COLLECTOR_COUNTERS = (
    (
        "gyre_collector_journaled_rows",
        "Scored rows journaled (they reach the inference dataset)",
        "journal",
        "written",
    ),
    (
        "gyre_collector_dropped_rows",
        "Scored rows the collector could not record (the journal or the disk was full)",
        "journal",
        "dropped",
    ),
    (
        "gyre_collector_converted_rows",
        "Rows written to the inference dataset",
        "converter",
        "rows_converted",
    ),
    (
        "gyre_collector_quarantined_rows",
        "Journaled rows the converter could not write, kept beside the journal "
        "(gyre data quarantine ENDPOINT-inference)",
        "converter",
        "rows_quarantined",
    ),
    (
        "gyre_collector_conversion_failures",
        "Conversion passes that failed and were retried (the server's log says why)",
        "converter",
        "failures",
    ),
)


class _Figures:
    """A custom collector: the counts of the journal, the converter and the batchers, read at
    each scrape (see the module's docstring)."""

    def __init__(self) -> None:
        self.served: Iterable[Any] = ()
        self.journal: Any = None
        self.converter: Any = None

    def describe(self) -> Iterator[Metric]:
        for name, documentation, _, _ in COLLECTOR_COUNTERS:
            yield CounterMetricFamily(name, documentation)
        yield CounterMetricFamily("gyre_batches", "Model calls made by the micro-batchers")

    def collect(self) -> Iterator[Metric]:
        sources = {"journal": self.journal, "converter": self.converter}
        for name, documentation, source, attribute in COLLECTOR_COUNTERS:
            owner = sources[source]
            if owner is not None:
                yield CounterMetricFamily(name, documentation, value=getattr(owner, attribute))
        batches = CounterMetricFamily(
            "gyre_batches", "Model calls made by the micro-batchers", labels=["model", "version"]
        )
        for model in self.served:
            if model.batcher is not None:
                batches.add_metric([model.name, str(model.version)], model.batcher.batches)
        yield batches


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
        self._figures = _Figures()
        self.registry.register(self._figures)
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
        """The ``/metrics`` body: every metric in Prometheus' text format, the collector's and
        batchers' counts read now from ``journal``, ``converter`` and the ``served`` models."""
        self._figures.served = list(served)
        self._figures.journal = journal
        self._figures.converter = converter
        body: bytes = generate_latest(self.registry)
        return body
