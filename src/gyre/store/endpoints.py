"""Endpoint rows: the desired state of each endpoint and what its serving process reports.

The desired state (traffic, shadow, options, state) changes only through :func:`set_traffic`
and :func:`mark_deleting`, each adding one to ``generation``; the serving process polls the
generation and applies what it finds, then reports it (:func:`report_ready`). Supervision is a
lease on the row, like a job's: one agent at a time starts and restarts the process.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gyre.errors import Conflict, NotFound, did_you_mean
from gyre.store.database import Transaction
from gyre.store.names import check_name


@dataclass(frozen=True)
class EndpointRow:
    name: str
    model: str
    target: str
    host: str
    port: int
    traffic: dict[int, int]  # version -> percent of requests
    shadow: int | None
    options: dict[str, Any]
    state: str
    generation: int
    created_at: float
    updated_at: float
    supervisor: str | None
    lease_expires: float | None
    machine: str | None
    pid: int | None
    applied_generation: int | None
    ready_at: float | None
    restarts: int
    last_error: str | None

    @property
    def versions(self) -> list[int]:
        """Every version the endpoint holds: the split's, then the shadow."""
        held = sorted(self.traffic)
        if self.shadow is not None and self.shadow not in held:
            held.append(self.shadow)
        return held

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


def _endpoint(row: dict[str, Any]) -> EndpointRow:
    data = dict(row)
    data["traffic"] = {int(k): int(v) for k, v in json.loads(data["traffic"]).items()}
    data["options"] = json.loads(data["options"] or "{}")
    return EndpointRow(**data)


def _encode_traffic(traffic: dict[int, int]) -> str:
    return json.dumps({str(k): v for k, v in sorted(traffic.items())})


def insert(
    tx: Transaction,
    name: str,
    *,
    model: str,
    target: str,
    host: str,
    port: int,
    traffic: dict[int, int],
    options: dict[str, Any],
) -> EndpointRow:
    check_name(name, "endpoint")
    if tx.scalar("SELECT name FROM endpoints WHERE name = ?", [name]) is not None:
        raise Conflict(
            f"Endpoint {name!r} exists. 'gyre endpoint traffic {name} ...' changes what it "
            f"serves; 'gyre endpoint delete {name}' removes it."
        )
    holder = tx.scalar("SELECT name FROM endpoints WHERE host = ? AND port = ?", [host, port])
    if holder is not None:
        raise Conflict(
            f"Port {port} on {host} belongs to endpoint {holder!r}; pick another with --port."
        )
    now = time.time()
    tx.execute(
        "INSERT INTO endpoints (name, model, target, host, port, traffic, shadow, options, "
        "state, generation, created_at, updated_at, restarts) "
        "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, 'active', 1, ?, ?, 0)",
        [
            name,
            model,
            target,
            host,
            port,
            _encode_traffic(traffic),
            json.dumps(options, sort_keys=True),
            now,
            now,
        ],
    )
    return get(tx, name)


def get(tx: Transaction, name: str) -> EndpointRow:
    row = tx.one("SELECT * FROM endpoints WHERE name = ?", [name])
    if row is None:
        names = tx.scalars("SELECT name FROM endpoints ORDER BY name")
        have = f" Endpoints: {', '.join(names)}." if names else " There are no endpoints yet."
        raise NotFound(
            f"No endpoint named {name!r}.{did_you_mean(name, names)}{have} "
            "'gyre endpoint create NAME --model MODEL@VERSION' makes one."
        )
    return _endpoint(row)


def find(tx: Transaction, name: str) -> EndpointRow | None:
    row = tx.one("SELECT * FROM endpoints WHERE name = ?", [name])
    return _endpoint(row) if row else None


def list_all(tx: Transaction) -> list[EndpointRow]:
    return [_endpoint(r) for r in tx.all("SELECT * FROM endpoints ORDER BY name")]


def used_ports(tx: Transaction, host: str) -> set[int]:
    return set(tx.scalars("SELECT port FROM endpoints WHERE host = ?", [host]))


def set_traffic(
    tx: Transaction, name: str, traffic: dict[int, int], shadow: int | None
) -> EndpointRow:
    """The new split (and shadow), as the next generation of the desired state."""
    changed = tx.execute(
        "UPDATE endpoints SET traffic = ?, shadow = ?, generation = generation + 1, "
        "last_error = NULL, updated_at = ? WHERE name = ? AND state = 'active'",
        [_encode_traffic(traffic), shadow, time.time(), name],
    )
    if not changed:
        get(tx, name)  # NotFound names the endpoints
        raise Conflict(f"Endpoint {name!r} is being deleted; its traffic cannot change.")
    return get(tx, name)


def mark_deleting(tx: Transaction, name: str) -> EndpointRow:
    tx.execute(
        "UPDATE endpoints SET state = 'deleting', generation = generation + 1, updated_at = ? "
        "WHERE name = ?",
        [time.time(), name],
    )
    return get(tx, name)


def remove(tx: Transaction, name: str) -> None:
    tx.execute("DELETE FROM endpoints WHERE name = ?", [name])


def lease(tx: Transaction, name: str, owner: str, lease_s: float) -> bool:
    """Take or extend the supervision lease; False when another supervisor holds it."""
    now = time.time()
    changed = tx.execute(
        "UPDATE endpoints SET supervisor = ?, lease_expires = ? WHERE name = ? AND "
        "(supervisor IS NULL OR supervisor = ? OR lease_expires IS NULL OR lease_expires < ?)",
        [owner, now + lease_s, name, owner, now],
    )
    return bool(changed)


def let_go(tx: Transaction, name: str, owner: str) -> None:
    tx.execute(
        "UPDATE endpoints SET supervisor = NULL, lease_expires = NULL "
        "WHERE name = ? AND supervisor = ?",
        [name, owner],
    )


def record_start(tx: Transaction, name: str, machine: str, pid: int, *, restart: bool) -> None:
    """A supervisor started the serving process (``restart``: one had been running)."""
    tx.execute(
        "UPDATE endpoints SET machine = ?, pid = ?, applied_generation = NULL, ready_at = NULL, "
        "restarts = restarts + ? WHERE name = ?",
        [machine, pid, 1 if restart else 0, name],
    )


def report_ready(tx: Transaction, name: str, machine: str, pid: int, generation: int) -> None:
    """The serving process serves ``generation`` of the desired state."""
    tx.execute(
        "UPDATE endpoints SET machine = ?, pid = ?, applied_generation = ?, ready_at = ?, "
        "last_error = NULL WHERE name = ?",
        [machine, pid, generation, time.time(), name],
    )


def report_error(tx: Transaction, name: str, error: str) -> None:
    tx.execute("UPDATE endpoints SET last_error = ? WHERE name = ?", [error[-4000:], name])


def report_stopped(tx: Transaction, name: str, pid: int) -> None:
    """The serving process ``pid`` has ended (a newer one may already be recorded)."""
    tx.execute(
        "UPDATE endpoints SET pid = NULL, applied_generation = NULL, ready_at = NULL "
        "WHERE name = ? AND pid = ?",
        [name, pid],
    )
