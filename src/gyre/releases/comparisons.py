"""Checks that compare the candidate with production before any client reaches it.

- ``champion_challenger``: a held-out dataset version is scored by the candidate (on the
  stage's endpoint) and by the version production serves now (on the production endpoint),
  through the same HTTP path clients use; the candidate must be no worse than the champion by
  more than ``margin`` (accuracy, or MAE / RMSE for a regression).
- ``replay``: a window of the production endpoint's inference dataset (what clients really
  sent, and what production answered) is scored again by the candidate; the check reports the
  share of answers that agree and the candidate's latency, and fails under ``min_agreement``
  or over ``p99_ms``. Production's answers are in the dataset: production is not asked again.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import httpx

from gyre import endpoints
from gyre.data.append_only import window as inference_window
from gyre.data.dataset import Dataset
from gyre.durations import parse_duration
from gyre.errors import NotFound
from gyre.registry import models as registry
from gyre.releases.checks import VERSION_HEADER, Candidate, CheckResult, percentile

BATCH_ROWS = 100
ROW_COLUMNS = ("request_id", "row", "model", "version", "timestamp", "latency_ms", "outputs")


class _Scored:
    """Predictions for records from one version, each batch's latency (ms), or why not."""

    def __init__(self) -> None:
        self.predictions: list[Any] = []
        self.latencies: list[float] = []
        self.refused: str | None = None


def _score(url: str, version: int, records: list[dict[str, Any]]) -> _Scored:
    scored = _Scored()
    with httpx.Client(timeout=60, headers={VERSION_HEADER: str(version)}) as client:
        for start in range(0, len(records), BATCH_ROWS):
            batch = records[start : start + BATCH_ROWS]
            began = time.perf_counter()
            answer = client.post(f"{url}/score", json=batch)
            scored.latencies.append((time.perf_counter() - began) * 1000)
            if answer.status_code != 200:
                scored.refused = (
                    f"version {version} answered {answer.status_code}: {answer.text[:300]}"
                )
                return scored
            scored.predictions.extend(answer.json()["predictions"])
    return scored


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return bool(a == b)


def _quality(metric: str, predictions: list[Any], labels: list[Any]) -> float:
    if metric == "accuracy":
        return sum(_same(p, y) for p, y in zip(predictions, labels, strict=True)) / len(labels)
    errors = [float(p) - float(y) for p, y in zip(predictions, labels, strict=True)]
    if metric == "mae":
        return sum(abs(e) for e in errors) / len(errors)
    return math.sqrt(sum(e * e for e in errors) / len(errors))


def _input_names(candidate: Candidate) -> list[str] | None:
    record = registry.get(candidate.store, f"{candidate.model}@{candidate.version}")
    inputs = (record.signature or {}).get("inputs") or []
    names = [str(i["name"]) for i in inputs if "name" in i]
    return names or None


def champion_challenger(settings: dict[str, Any], candidate: Candidate) -> CheckResult:
    metric = settings.get("metric", "accuracy")
    margin = float(settings.get("margin", 0.0))
    label = settings["label"]
    against = settings.get("against", "production")
    champion = registry.alias_target(candidate.store, candidate.model, against)
    production = (
        endpoints.find(candidate.store, candidate.production_endpoint)
        if candidate.production_endpoint
        else None
    )
    if champion is None or production is None:
        return CheckResult(
            "",
            True,
            f"no champion yet ({candidate.model}@{against} is not served): nothing to compare with",
        )
    if champion == candidate.version:
        return CheckResult("", True, f"the candidate is the champion ({candidate.model}@{against})")
    frame = Dataset.parse(settings["dataset"]).get().to_pandas()
    if label not in frame.columns:
        return CheckResult(
            "",
            False,
            f"{settings['dataset']} has no column {label!r} (its columns: "
            f"{', '.join(map(str, frame.columns))})",
        )
    names = _input_names(candidate) or [c for c in frame.columns if c != label]
    records = json.loads(frame[names].to_json(orient="records"))
    labels = frame[label].tolist()
    challenger_scored = _score(candidate.url, candidate.version, records)
    champion_scored = _score(production.url, champion, records)
    for scored in (challenger_scored, champion_scored):
        if scored.refused:
            return CheckResult("", False, scored.refused)
    challenger = _quality(metric, challenger_scored.predictions, labels)
    best = _quality(metric, champion_scored.predictions, labels)
    higher_is_better = metric == "accuracy"
    ok = challenger >= best - margin if higher_is_better else challenger <= best + margin
    return CheckResult(
        "",
        ok,
        f"{metric} {challenger:.4f} for version {candidate.version} against {best:.4f} for "
        f"version {champion} ({against}) on {len(labels)} rows of {settings['dataset']}, "
        f"margin {margin:g}",
        figures={"candidate": challenger, "champion": best, "champion_version": champion},
    )


def replay(settings: dict[str, Any], candidate: Candidate) -> CheckResult:
    source = settings.get("from") or candidate.production_endpoint
    if not source:
        return CheckResult("", False, "replay: say which endpoint's traffic to replay (from:)")
    window = settings.get("window", "24h")
    seconds = parse_duration(window) or 0.0  # release.yaml's checker accepted it
    limit = int(settings.get("rows", 1000))
    try:
        table = inference_window(candidate.store, f"{source}-inference", time.time() - seconds)
    except NotFound:
        return CheckResult("", True, f"no traffic collected at {source} yet: nothing to replay")
    frame = table.to_pandas() if table is not None else None
    if frame is None or frame.empty:
        return CheckResult(
            "", True, f"no traffic at {source} in the last {window}: nothing to replay"
        )
    frame = frame[frame["timestamp"] >= time.time() - seconds]
    frame = frame.sort_values("timestamp").tail(limit)
    if frame.empty:
        return CheckResult(
            "", True, f"no traffic at {source} in the last {window}: nothing to replay"
        )
    inputs = [c for c in frame.columns if c.startswith("in_")]
    if not inputs:
        return CheckResult("", False, f"{source}-inference holds no per-field inputs to replay")
    records = [
        {name[3:]: value for name, value in row.items()}
        for row in json.loads(frame[inputs].to_json(orient="records"))
    ]
    answered = frame["outputs"].tolist()
    scored = _score(candidate.url, candidate.version, records)
    if scored.refused:
        return CheckResult("", False, scored.refused)
    predictions, latencies = scored.predictions, scored.latencies
    agreement = sum(_same(p, a) for p, a in zip(predictions, answered, strict=True)) / len(records)
    p99 = percentile(latencies, 0.99)
    wanted = float(settings.get("min_agreement", 0.0))
    budget = settings.get("p99_ms")
    ok = agreement >= wanted and (budget is None or p99 <= float(budget))
    return CheckResult(
        "",
        ok,
        f"{len(records)} requests from {source} (last {window}) replayed: {agreement:.1%} of "
        f"answers agree with production (at least {wanted:.0%} wanted); p99 {p99:.1f} ms per "
        f"batch of up to {BATCH_ROWS} rows" + (f" (budget {budget} ms)" if budget else ""),
        figures={"rows": len(records), "agreement": agreement, "p99_ms": p99},
    )
