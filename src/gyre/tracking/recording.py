"""Recording a run by its id: what the team server (and its MLflow endpoint) call for a client.

``gyre.log_*`` write to the run active in this process; a remote client names its run on
every call instead. The rules are the same: params are immutable once set, metric values are
numbers, a finished run's record is closed to new metrics and params.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gyre.errors import Conflict, InvalidParameter
from gyre.store import metrics as metric_rows
from gyre.store import runs as run_rows
from gyre.store.runs import RunRecord

if TYPE_CHECKING:
    from pathlib import Path

    from gyre.store import Store

END_STATUSES = ("finished", "failed", "cancelled")
MAX_POINTS_PER_CALL = 100_000
MAX_KEY_LENGTH = 250
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class Point:
    """One metric point as a client sends it; ``step`` None means one past the key's last."""

    key: str
    value: float
    step: int | None = None
    timestamp: float | None = None


def create_run(
    store: Store,
    *,
    experiment: str = "default",
    name: str | None = None,
    tags: dict[str, str] | None = None,
    started_at: float | None = None,
) -> RunRecord:
    """A new run, ``running`` from now (or ``started_at``), as ``gyre.start_run`` makes."""
    _check_text("experiment", experiment, MAX_NAME_LENGTH)
    if name is not None:
        _check_text("run name", name, MAX_NAME_LENGTH)
    with store.write() as tx:
        run_id = run_rows.create(tx, kind="run", name=name or experiment, experiment=experiment)
        if started_at is not None:
            run_rows.update_run(tx, run_id, started_at=started_at)
        run_rows.set_tags(tx, run_id, {str(k): str(v) for k, v in (tags or {}).items()})
        return run_rows.get(tx, run_id)


def _check_open(record: RunRecord, doing: str) -> RunRecord:
    run_id = record.id
    if record.status in END_STATUSES:
        raise Conflict(
            f"Run {run_id} is {record.status}; it cannot {doing} any more. Start a new run."
        )
    return record


def log_points(store: Store, run_id: str, points: Sequence[Point]) -> int:
    """Append metric points to a running run in one transaction; returns how many."""
    if len(points) > MAX_POINTS_PER_CALL:
        raise InvalidParameter(
            f"{len(points)} metric points in one call; send at most {MAX_POINTS_PER_CALL} "
            "per call (the client batches for you).",
            field="points",
        )
    now = time.time()
    rows: list[metric_rows.MetricPoint] = []
    with store.write() as tx:  # one transaction: the run's check, the points, latest values
        run_id = _check_open(run_rows.get(tx, run_id), "take metrics").id  # a prefix too
        next_steps: dict[str, int] = {}
        for point in points:
            _check_text("metric key", point.key)
            value = _number(point.key, point.value)
            step = point.step
            if step is None:
                if point.key not in next_steps:
                    last = tx.scalar(
                        "SELECT step FROM latest_metrics WHERE run_id = ? AND key = ?",
                        [run_id, point.key],
                    )
                    next_steps[point.key] = -1 if last is None else int(last)
                step = next_steps[point.key] + 1
            next_steps[point.key] = max(step, next_steps.get(point.key, step))
            stamp = now if point.timestamp is None else float(point.timestamp)
            rows.append((run_id, point.key, int(step), value, stamp))
        metric_rows.insert_points(tx, rows)
    return len(rows)


def log_params(store: Store, run_id: str, values: dict[str, Any]) -> None:
    """Set params (immutable: the same value again is fine, another value is a Conflict)."""
    for key in values:
        _check_text("param name", key)
    with store.write() as tx:
        run_id = _check_open(run_rows.get(tx, run_id), "take params").id
        run_rows.set_params(tx, run_id, values)


def set_tags(store: Store, run_id: str, tags: dict[str, str]) -> None:
    for key in tags:
        _check_text("tag name", key)
    with store.write() as tx:
        run_id = run_rows.get(tx, run_id).id
        run_rows.set_tags(tx, run_id, {k: str(v) for k, v in tags.items()})


def end_run(
    store: Store,
    run_id: str,
    status: str = "finished",
    *,
    error: str | None = None,
    ended_at: float | None = None,
) -> RunRecord:
    """Close a run as finished, failed or cancelled; ending it again with the same status is
    a no-op (a retried request), with another is a Conflict."""
    if status not in END_STATUSES:
        raise InvalidParameter(
            f"Run status {status!r} is not an end; use one of {', '.join(END_STATUSES)}.",
            field="status",
        )
    with store.write() as tx:
        record = run_rows.get(tx, run_id)
        if record.status == status:
            return record
        if record.status in END_STATUSES:
            raise Conflict(f"Run {run_id} is {record.status} already; it cannot become {status}.")
        run_rows.update_run(
            tx, run_id, status=status, ended_at=ended_at or time.time(), error=error
        )
        return run_rows.get(tx, run_id)


def store_artifact(
    store: Store, run_id: str, source: Path, name: str, *, filename: str | None = None
) -> str:
    """Keep a file or folder with the run under ``name`` (a file keeps ``filename``, default
    the last part of ``name``, for whoever fetches it); returns its digest."""
    from gyre.store.folders import store_folder

    _check_text("artifact name", name)
    if source.is_dir():
        saved = store_folder(source, store.blobs, where=f"log_artifact({name!r})")
        digest, size, materializer = saved.digest, saved.size, "dir"
        meta: dict[str, Any] = {"files": saved.files}
    else:
        digest, size = store.blobs.put_file(source)
        materializer, meta = "file", {"name": filename or name.rsplit("/", 1)[-1]}
    with store.write() as tx:
        run_id = run_rows.get(tx, run_id).id
        run_rows.add_artifact(
            tx,
            run_id,
            name,
            role="logged",
            digest=digest,
            materializer=materializer,
            size=size,
            meta=meta,
        )
    return digest


def _check_text(what: str, text: str, longest: int = MAX_KEY_LENGTH) -> None:
    if not isinstance(text, str) or not text or len(text) > longest or "\x00" in text:
        raise InvalidParameter(
            f"The {what} {text!r} is not usable: give 1 to {longest} characters without NUL.",
            field=what.replace(" ", "_"),
        )


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(
            f"Metric {key!r} got {value!r} ({type(value).__name__}), which is not a number.",
            field="value",
        )
    number = float(value)
    return math.nan if math.isnan(number) else number
