"""Drift monitors, their results per window and feature, and the actions they took, as rows."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gyre.errors import Conflict, NotFound, did_you_mean
from gyre.store.database import Transaction


@dataclass(frozen=True)
class MonitorRow:
    name: str
    endpoint: str | None
    dataset: str
    baseline: str | None
    spec: dict[str, Any]
    window_s: float
    schedule: str | None
    scheduled_until: float
    created_at: float
    created_by: str


@dataclass(frozen=True)
class WindowRow:
    monitor: str
    starts_at: float
    ends_at: float
    status: str
    drifted: bool | None
    share: float | None
    rows: int
    baseline: str | None
    message: str | None
    report: dict[str, Any] | None
    quality: dict[str, Any] | None
    computed_at: float


@dataclass(frozen=True)
class FeatureRow:
    monitor: str
    starts_at: float
    ends_at: float
    feature: str
    kind: str
    drifted: bool
    score: float | None
    statistics: dict[str, Any]


@dataclass(frozen=True)
class ActionRow:
    monitor: str
    starts_at: float
    ends_at: float
    kind: str
    status: str
    detail: dict[str, Any]
    at: float


def _monitor(row: dict[str, Any]) -> MonitorRow:
    data = dict(row)
    data["spec"] = json.loads(data["spec"])
    return MonitorRow(**data)


def _window(row: dict[str, Any], *, with_report: bool = True) -> WindowRow:
    data = dict(row)
    data["drifted"] = None if data["drifted"] is None else bool(data["drifted"])
    data["report"] = json.loads(data["report"]) if with_report and data["report"] else None
    data["quality"] = json.loads(data["quality"]) if data["quality"] else None
    return WindowRow(**data)


def insert(
    tx: Transaction,
    *,
    name: str,
    endpoint: str | None,
    dataset: str,
    baseline: str | None,
    spec: dict[str, Any],
    window_s: float,
    schedule: str | None,
    created_by: str,
) -> MonitorRow:
    if find(tx, name) is not None:
        raise Conflict(
            f"A monitor named {name!r} exists. Choose another name, or delete it first: "
            f"gyre monitor delete {name}."
        )
    now = time.time()
    tx.execute(
        "INSERT INTO monitors (name, endpoint, dataset, baseline, spec, window_s, schedule, "
        "scheduled_until, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            name,
            endpoint,
            dataset,
            baseline,
            json.dumps(spec, sort_keys=True),
            window_s,
            schedule,
            now,
            now,
            created_by,
        ],
    )
    return get(tx, name)


def find(tx: Transaction, name: str) -> MonitorRow | None:
    row = tx.one("SELECT * FROM monitors WHERE name = ?", [name])
    return _monitor(row) if row else None


def get(tx: Transaction, name: str) -> MonitorRow:
    found = find(tx, name)
    if found is None:
        names = tx.scalars("SELECT name FROM monitors ORDER BY name")
        raise NotFound(
            f"No monitor named {name!r}.{did_you_mean(name, names)} 'gyre monitor list' shows "
            "the monitors; 'gyre monitor create' makes one."
        )
    return found


def list_all(tx: Transaction) -> list[MonitorRow]:
    return [_monitor(r) for r in tx.all("SELECT * FROM monitors ORDER BY name")]


def advance_schedule(tx: Transaction, name: str, seen: float, until: float) -> bool:
    """Move a monitor's scheduling mark from ``seen`` to ``until``; False when another agent
    moved it first (that agent enqueued the windows)."""
    changed = tx.execute(
        "UPDATE monitors SET scheduled_until = ? WHERE name = ? AND scheduled_until = ?",
        [until, name, seen],
    )
    return bool(changed)


def delete(tx: Transaction, name: str) -> None:
    get(tx, name)
    for table in ("monitor_actions", "monitor_features", "monitor_windows"):
        tx.execute(f"DELETE FROM {table} WHERE monitor = ?", [name])
    tx.execute("DELETE FROM monitors WHERE name = ?", [name])


# -- windows -------------------------------------------------------------------------------------


def find_window(
    tx: Transaction, monitor: str, starts_at: float, ends_at: float
) -> WindowRow | None:
    row = tx.one(
        "SELECT * FROM monitor_windows WHERE monitor = ? AND starts_at = ? AND ends_at = ?",
        [monitor, starts_at, ends_at],
    )
    return _window(row) if row else None


def save_window(
    tx: Transaction,
    window: WindowRow,
    features: list[FeatureRow],
) -> bool:
    """Store a window's result and its features, once: False when it was stored already (the
    stored result stands; a window is computed once)."""
    if find_window(tx, window.monitor, window.starts_at, window.ends_at) is not None:
        return False
    tx.execute(
        "INSERT INTO monitor_windows (monitor, starts_at, ends_at, status, drifted, share, rows, "
        "baseline, message, report, quality, computed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            window.monitor,
            window.starts_at,
            window.ends_at,
            window.status,
            window.drifted,
            window.share,
            window.rows,
            window.baseline,
            window.message,
            json.dumps(window.report, sort_keys=True) if window.report is not None else None,
            json.dumps(window.quality, sort_keys=True) if window.quality is not None else None,
            window.computed_at,
        ],
    )
    if features:
        tx.executemany(
            "INSERT INTO monitor_features (monitor, starts_at, ends_at, feature, kind, drifted, "
            "score, statistics) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    f.monitor,
                    f.starts_at,
                    f.ends_at,
                    f.feature,
                    f.kind,
                    f.drifted,
                    f.score,
                    json.dumps(f.statistics, sort_keys=True),
                ]
                for f in features
            ],
        )
    return True


def windows(
    tx: Transaction, monitor: str, *, limit: int = 100, with_report: bool = False
) -> list[WindowRow]:
    """The newest ``limit`` windows, oldest first."""
    rows = tx.all(
        "SELECT * FROM monitor_windows WHERE monitor = ? ORDER BY ends_at DESC, starts_at DESC "
        "LIMIT ?",
        [monitor, limit],
    )
    return [_window(r, with_report=with_report) for r in reversed(rows)]


def feature_history(tx: Transaction, monitor: str, since: float) -> list[FeatureRow]:
    rows = tx.all(
        "SELECT * FROM monitor_features WHERE monitor = ? AND ends_at >= ? "
        "ORDER BY feature, starts_at",
        [monitor, since],
    )
    out = []
    for row in rows:
        data = dict(row)
        data["drifted"] = bool(data["drifted"])
        data["statistics"] = json.loads(data["statistics"])
        out.append(FeatureRow(**data))
    return out


# -- actions -------------------------------------------------------------------------------------


def _action(row: dict[str, Any]) -> ActionRow:
    data = dict(row)
    data["detail"] = json.loads(data["detail"])
    return ActionRow(**data)


def find_action(
    tx: Transaction, monitor: str, starts_at: float, ends_at: float, kind: str
) -> ActionRow | None:
    row = tx.one(
        "SELECT * FROM monitor_actions WHERE monitor = ? AND starts_at = ? AND ends_at = ? "
        "AND kind = ?",
        [monitor, starts_at, ends_at, kind],
    )
    return _action(row) if row else None


def record_action(tx: Transaction, action: ActionRow) -> None:
    """Insert or update the action of a window (one per kind)."""
    changed = tx.execute(
        "UPDATE monitor_actions SET status = ?, detail = ?, at = ? WHERE monitor = ? AND "
        "starts_at = ? AND ends_at = ? AND kind = ?",
        [
            action.status,
            json.dumps(action.detail, sort_keys=True),
            action.at,
            action.monitor,
            action.starts_at,
            action.ends_at,
            action.kind,
        ],
    )
    if not changed:
        tx.execute(
            "INSERT INTO monitor_actions (monitor, starts_at, ends_at, kind, status, detail, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                action.monitor,
                action.starts_at,
                action.ends_at,
                action.kind,
                action.status,
                json.dumps(action.detail, sort_keys=True),
                action.at,
            ],
        )


def actions(
    tx: Transaction, monitor: str, *, kind: str | None = None, since: float = 0.0
) -> list[ActionRow]:
    sql = "SELECT * FROM monitor_actions WHERE monitor = ? AND at >= ?"
    params: list[Any] = [monitor, since]
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    return [_action(r) for r in tx.all(sql + " ORDER BY at", params)]


def lock(tx: Transaction, name: str) -> None:
    """Serialise decisions about one monitor (the retrain cool-down) across agents: a row lock
    on PostgreSQL; SQLite's writer lock already serialises write transactions."""
    if tx.dialect == "postgresql":
        tx.one("SELECT name FROM monitors WHERE name = ? FOR UPDATE", [name])
