"""Monitors: compare windows of an inference dataset with a baseline on a schedule, store the
result per window and feature, and hand drifted windows to their actions. The capability
behind ``gyre monitor``.

Each window ``[start, end)`` is computed once: its result is keyed by (monitor, start, end),
the agent's job that computes it is keyed the same way, and the ``drift.detected`` event of a
drifted window is enqueued in the transaction that stores the result, so an agent killed at
any moment neither loses the window's actions nor takes them twice. The baseline defaults to
the dataset versions that trained the version the endpoint serves (its lineage) and is
prepared once per process for all the windows that use it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gyre import endpoints
from gyre.durations import describe, parse_duration
from gyre.errors import GyreError, InvalidParameter, NotFound
from gyre.monitoring import actions as monitor_actions
from gyre.monitoring import schedules, sources
from gyre.monitoring.comparison import Baseline, DriftReport, Settings
from gyre.monitoring.features import PREDICTION, PREDICTION_SCORE, FeatureSet
from gyre.store import audit, names
from gyre.store import datasets as dataset_rows
from gyre.store import jobs as job_rows
from gyre.store import monitors as rows
from gyre.store.monitors import FeatureRow, MonitorRow, WindowRow

if TYPE_CHECKING:
    from gyre.store import Store

WINDOW_JOB = "monitor.window"  # gyre.agent.MONITOR_WINDOW_JOB
DRIFT_EVENT = "drift.detected"
DEFAULT_GRACE_S = 30.0  # rows scored just before a window ends reach the dataset within seconds
BASELINE_CACHE = 4
SCORES = {"numeric": "ks_statistic", "categorical": "jensen_shannon"}


@dataclass(frozen=True)
class WindowResult:
    window: WindowRow
    computed_now: bool  # False: it was computed before, and this is the stored result

    def to_dict(self) -> dict[str, Any]:
        w = self.window
        return {
            "monitor": w.monitor,
            "starts_at": w.starts_at,
            "ends_at": w.ends_at,
            "status": w.status,
            "drifted": w.drifted,
            "share": w.share,
            "rows": w.rows,
            "baseline": w.baseline,
            "message": w.message,
            "quality": w.quality,
            "computed_now": self.computed_now,
            "report": w.report,
        }


def create(
    store: Store,
    name: str,
    *,
    endpoint: str | None = None,
    dataset: str | None = None,
    baseline: str | None = None,
    window: str | float = "1h",
    schedule: str | None = None,
    features: list[str] | None = None,
    thresholds: dict[str, float | None] | None = None,
    correction: str = "bonferroni",
    drift_share: float = 0.5,
    weights: dict[str, float] | None = None,
    target: str | None = None,
    actions: list[dict[str, Any]] | None = None,
    grace: str | float = DEFAULT_GRACE_S,
    quality: dict[str, float] | None = None,
    actor: str | None = None,
) -> MonitorRow:
    """Define a monitor on an endpoint's inference dataset (or any append-only dataset).

    Everything is checked before anything is stored: the names, the window, the cron
    expression, the thresholds, the actions, and, when one is given, that the baseline
    exists and has the selected features. ``quality``: limits on the model's quality where
    labels arrived (``accuracy``, ``f1_macro``: at least; ``mae``, ``rmse``: at most); a window
    below them counts as drifted."""
    names.check_name(name)
    if (endpoint is None) == (dataset is None):
        raise InvalidParameter(
            "Give the data to watch once: --endpoint NAME (its inference dataset) or "
            "--dataset NAME (an append-only dataset)."
        )
    if endpoint is not None:
        endpoints.get(store, endpoint)  # NotFound names the endpoints that exist
        dataset = f"{endpoint}-inference"
    assert dataset is not None
    names.check_name(dataset)
    window_s = _duration(window, "window")
    if window_s <= 0:
        raise InvalidParameter("The window must be longer than 0 seconds, e.g. --window 1h.")
    grace_s = _duration(grace, "grace")
    if schedule is not None:
        schedules.check_cron(schedule)
    settings = Settings.make(
        thresholds=thresholds,
        correction=correction,
        drift_share=drift_share,
        weights=weights,
        features=features,
    )
    checked_actions = monitor_actions.check(store, actions or [{"kind": "log"}])
    from gyre.monitoring import labels

    checked_quality = labels.check_limits(quality or {})
    if baseline is not None:
        Baseline(_baseline_features(store, baseline, target), settings)  # has the features?
    spec = {
        **settings.to_dict(),
        "target": target,
        "actions": checked_actions,
        "grace_s": grace_s,
        "quality": checked_quality,
    }
    with store.write() as tx:
        row = rows.insert(
            tx,
            name=name,
            endpoint=endpoint,
            dataset=dataset,
            baseline=baseline,
            spec=spec,
            window_s=window_s,
            schedule=schedule,
            created_by=actor or audit.default_actor(),
        )
        audit.append(
            tx,
            actor or audit.default_actor(),
            "monitor.create",
            f"monitor {name}",
            {"dataset": dataset, "baseline": baseline, "window": describe(window_s)},
        )
    return row


def _duration(value: str | float, field: str) -> float:
    seconds = parse_duration(value)
    if seconds is None:
        raise InvalidParameter(
            f"The {field} {value!r} is not a duration: write it like 90s, 15m, 1h or 1d."
        )
    return seconds


def get(store: Store, name: str) -> MonitorRow:
    with store.read() as tx:
        return rows.get(tx, name)


def list_monitors(store: Store) -> list[MonitorRow]:
    with store.read() as tx:
        return rows.list_all(tx)


def delete(store: Store, name: str, *, actor: str | None = None) -> None:
    """Remove a monitor and its stored results (the data it watched stays)."""
    with store.write() as tx:
        rows.delete(tx, name)
        audit.append(tx, actor or audit.default_actor(), "monitor.delete", f"monitor {name}")


def settings_of(monitor: MonitorRow) -> Settings:
    spec = monitor.spec
    return Settings.make(
        thresholds=spec.get("thresholds"),
        correction=spec.get("correction", "bonferroni"),
        drift_share=spec.get("drift_share", 0.5),
        weights=spec.get("weights"),
        features=spec.get("features"),
    )


# -- windows -------------------------------------------------------------------------------------


def run_window(
    store: Store, name: str, start: float, end: float, *, act: bool = True
) -> WindowResult:
    """Compute one window (once: a stored result is returned as it is). With ``act``, a
    drifted window's actions are enqueued with its result."""
    if end <= start:
        raise InvalidParameter(f"A window must end after it starts ({start} .. {end}).")
    with store.read() as tx:
        monitor = rows.get(tx, name)
        stored = rows.find_window(tx, name, start, end)
    if stored is not None:
        return WindowResult(stored, False)
    window, features = _compute(store, monitor, start, end)
    with store.write() as tx:
        if not rows.save_window(tx, window, features):
            return WindowResult(rows.find_window(tx, name, start, end) or window, False)
        if window.drifted:
            audit.append(
                tx,
                "monitor",
                "monitor.drift",
                f"monitor {name}",
                {"starts_at": start, "ends_at": end, "share": window.share},
            )
            if act and monitor.spec.get("actions"):
                job_rows.enqueue(
                    tx,
                    DRIFT_EVENT,
                    {"monitor": name, "starts_at": start, "ends_at": end},
                    idempotency_key=f"drift:{name}:{start!r}:{end!r}",
                    max_attempts=5,
                )
    return WindowResult(window, True)


def run_now(store: Store, name: str, window: str | float | None = None) -> WindowResult:
    """The window that ends now (``gyre monitor run``): the monitor's length, or ``window``."""
    monitor = get(store, name)
    length = _duration(window, "window") if window is not None else monitor.window_s
    end = float(int(time.time()))
    return run_window(store, name, end - length, end)


def backfill(
    store: Store, name: str, start: float, end: float, *, act: bool = False
) -> list[WindowResult]:
    """Every window of the schedule that lies in [start, end), oldest first; windows computed
    before are returned as stored. Actions are not taken unless ``act``: a backfill reports
    the past, it does not retrain for it."""
    monitor = get(store, name)
    if end <= start:
        raise InvalidParameter(f"--to ({end}) must be after --from ({start}).")
    ends = schedules.ticks(monitor.schedule, monitor.window_s, start + monitor.window_s - 1e-6, end)
    return [run_window(store, name, tick - monitor.window_s, tick, act=act) for tick in ends]


def windows(
    store: Store, name: str, *, limit: int = 48, with_report: bool = False
) -> list[WindowRow]:
    with store.read() as tx:
        rows.get(tx, name)
        return rows.windows(tx, name, limit=limit, with_report=with_report)


def feature_history(store: Store, name: str, since: float) -> list[FeatureRow]:
    with store.read() as tx:
        return rows.feature_history(tx, name, since)


def _compute(
    store: Store, monitor: MonitorRow, start: float, end: float
) -> tuple[WindowRow, list[FeatureRow]]:
    def result(status: str, message: str | None, **more: Any) -> WindowRow:
        values: dict[str, Any] = {
            "drifted": None,
            "share": None,
            "rows": 0,
            "baseline": None,
            "report": None,
            "quality": None,
            **more,
        }
        return WindowRow(
            monitor.name, start, end, status, message=message, computed_at=time.time(), **values
        )

    with store.read() as tx:
        collected = dataset_rows.dataset_exists(tx, monitor.dataset)
    if not collected:
        what = f"endpoint {monitor.endpoint}" if monitor.endpoint else f"dataset {monitor.dataset}"
        return result(
            "waiting",
            f"{what} has collected nothing yet ({monitor.dataset} does not exist): the monitor "
            "waits for scored requests.",
        ), []
    table = sources.window(store, monitor.dataset, start, end)
    if table.num_rows == 0:
        return result("empty", "no rows in this window: nothing was scored"), []
    try:
        reference, base = resolve_baseline(store, monitor)
        report = base.compare(table, settings_of(monitor))
    except GyreError as exc:
        return result("failed", str(exc), rows=table.num_rows), []
    from gyre.monitoring import labels

    quality = labels.window_quality(store, monitor.dataset, table)
    poor = labels.breaches(quality, monitor.spec.get("quality") or {})
    summary = _summary(report) + (f"; quality: {', '.join(poor)}" if poor else "")
    window = result(
        "done",
        summary,
        drifted=report.drifted or bool(poor),
        share=report.share,
        rows=table.num_rows,
        baseline=reference,
        report=report.to_dict(),
        quality=quality,
    )
    features = [
        FeatureRow(
            monitor.name,
            start,
            end,
            f.name,
            f.kind,
            f.drifted,
            f.statistics.get(SCORES[f.kind]),
            {**f.statistics, "breaches": f.breaches},
        )
        for f in report.features
    ]
    return window, features


def _summary(report: DriftReport) -> str:
    drifted = report.drifted_features
    head = f"{len(drifted)} of {len(report.features)} features drifted ({report.share:.0%})"
    return head + (
        f": {', '.join(drifted[:8])}{' ...' if len(drifted) > 8 else ''}" if drifted else ""
    )


# -- baselines -----------------------------------------------------------------------------------

_baselines: OrderedDict[tuple[str, str | None], FeatureSet] = OrderedDict()
_baselines_lock = threading.Lock()


def _baseline_features(store: Store, reference: str, target: str | None) -> FeatureSet:
    """A dataset version's features, prepared once per process (versions are immutable)."""
    from gyre.data import versions
    from gyre.refs import parse_ref

    dataset, ref = parse_ref(reference)
    record = versions.get(store, dataset, ref)
    key = (f"{record.dataset}@{record.version}:{store.settings.local_dir}", target)
    with _baselines_lock:
        if key in _baselines:
            _baselines.move_to_end(key)
            return _baselines[key]
    prepared = sources.of_version(store, record, target=target)
    with _baselines_lock:
        _baselines[key] = prepared
        while len(_baselines) > BASELINE_CACHE:
            _baselines.popitem(last=False)
    return prepared


def resolve_baseline(store: Store, monitor: MonitorRow) -> tuple[str, Baseline]:
    """(the version compared with, its prepared features): the monitor's own baseline, or
    the datasets that trained the version its endpoint serves now."""
    target = monitor.spec.get("target")
    if monitor.baseline is not None:
        return monitor.baseline, Baseline(_baseline_features(store, monitor.baseline, target))
    if monitor.endpoint is None:
        raise InvalidParameter(
            f"Monitor {monitor.name} watches a dataset, not an endpoint, and has no baseline: "
            "recreate it with --baseline NAME@VERSION."
        )
    from gyre.registry import models as registry

    row = endpoints.get(store, monitor.endpoint)
    serving = max(row.traffic.items(), key=lambda kv: (kv[1], kv[0]))[0]
    record = registry.get(store, f"{row.model}@{serving}")
    trained_on = record.datasets or []
    if not trained_on:
        raise NotFound(
            f"{record.ref}, which endpoint {row.name} serves, records no training dataset (it "
            "was not registered by a pipeline that read one), so the monitor has no default "
            "baseline. Recreate the monitor with --baseline NAME@VERSION."
        )
    candidates = [(ref, _baseline_features(store, ref, target)) for ref in trained_on]
    chosen, features = max(candidates, key=lambda c: len(c[1].features))
    if PREDICTION not in features.features and "label" in features.features:
        features = _labels_as_predictions(features)
    if PREDICTION_SCORE not in features.features:
        features = _with_reference_scores(store, monitor, serving, features)
    return chosen, Baseline(features)


_references: dict[tuple[str, int, float], Any] = {}


def _with_reference_scores(
    store: Store, monitor: MonitorRow, version: int, features: FeatureSet
) -> FeatureSet:
    """Training data has no scores: a classifier's top scores are compared with those of its
    first window in production (the first ``window`` of rows this version answered)."""
    import dataclasses

    key = (monitor.dataset, version, monitor.window_s)
    with _baselines_lock:
        reference = _references.get(key)
    if reference is None:
        reference = _first_answers(store, monitor.dataset, version, monitor.window_s)
        if reference is None:
            return features
        with _baselines_lock:
            _references[key] = reference
    found = {**features.features, PREDICTION_SCORE: reference}
    return dataclasses.replace(features, features=found)


def _first_answers(store: Store, dataset: str, version: int, window_s: float) -> Any:
    """The prediction_score feature of the first ``window_s`` of rows ``version`` answered."""
    import pyarrow.compute as pc

    from gyre.data import append_only
    from gyre.monitoring.features import from_table

    with store.read() as tx:
        if not dataset_rows.dataset_exists(tx, dataset):
            return None
    for part in append_only.list_partitions(store, dataset):
        rows = append_only.window(store, dataset, part.starts_at, part.ends_at)
        if "version" not in rows.column_names or "timestamp" not in rows.column_names:
            return None
        mine = rows.filter(pc.equal(rows.column("version"), version))
        if mine.num_rows == 0:
            continue
        first = float(pc.min(mine.column("timestamp")).as_py())
        window = sources.window(store, dataset, first, first + window_s)
        window = window.filter(pc.equal(window.column("version"), version))
        return from_table(window).features.get(PREDICTION_SCORE)
    return None


def _labels_as_predictions(features: FeatureSet) -> FeatureSet:
    """An image folder's labels stand for what the model should predict: the predicted
    classes are compared with them."""
    import dataclasses

    found = dict(features.features)
    label = found["label"]
    found[PREDICTION] = dataclasses.replace(label, name=PREDICTION)
    return dataclasses.replace(features, features=found)


# -- scheduling ----------------------------------------------------------------------------------


def schedule_due(store: Store, now: float | None = None) -> int:
    """Enqueue the windows of every scheduled monitor that have ended (plus its grace) since
    the last call, by any agent; returns how many this call enqueued. Safe with several
    agents: each window's job has one key, and the mark moves by compare-and-set."""
    now = time.time() if now is None else now
    enqueued = 0
    for monitor in list_monitors(store):
        if monitor.schedule is None:
            continue
        grace = float(monitor.spec.get("grace_s", DEFAULT_GRACE_S))
        until = now - grace
        ends = schedules.ticks(monitor.schedule, monitor.window_s, monitor.scheduled_until, until)
        if not ends:
            continue
        with store.write() as tx:
            if not rows.advance_schedule(tx, monitor.name, monitor.scheduled_until, ends[-1]):
                continue  # another agent took these
            for tick in ends:
                start = tick - monitor.window_s
                job_rows.enqueue(
                    tx,
                    WINDOW_JOB,
                    {"monitor": monitor.name, "starts_at": start, "ends_at": tick},
                    idempotency_key=f"monitor:{monitor.name}:{start!r}:{tick!r}",
                )
                enqueued += 1
    return enqueued


def window_job(store: Store, payload: dict[str, Any]) -> str:
    """What the agent runs for a ``monitor.window`` job."""
    name = str(payload["monitor"])
    try:
        outcome = run_window(store, name, float(payload["starts_at"]), float(payload["ends_at"]))
    except NotFound:
        return f"monitor {name} was deleted: window skipped"
    w = outcome.window
    said = "stored earlier" if not outcome.computed_now else w.status
    return f"monitor {name} window {_when(w.starts_at)}..{_when(w.ends_at)}: {said}: {w.message}"


def _when(timestamp: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M")
