"""Compute targets: named places where steps run (``local`` is built in; Ray clusters are
added). The capability behind ``gyre compute``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gyre.store import Store, audit
from gyre.store import compute as rows
from gyre.store.compute import ComputeTarget

LOCAL = {"name": "local", "type": "local", "address": "processes on this machine (default)"}


def add_target(store: Store, name: str, type_: str, address: str) -> ComputeTarget:
    """Add a target; steps use it with ``@step(compute=NAME)`` or ``gyre run --compute``."""
    with store.write() as tx:
        target = rows.add(tx, name, type_, address, {})
        detail = {"type": type_, "address": address}
        audit.append(tx, audit.default_actor(), "compute.add", f"compute {name}", detail)
        return target


def list_targets(store: Store) -> list[ComputeTarget]:
    with store.read() as tx:
        return rows.list_targets(tx)


def get_target(store: Store, name: str) -> ComputeTarget:
    with store.read() as tx:
        return rows.get(tx, name)


def remove_target(store: Store, name: str) -> None:
    with store.write() as tx:
        rows.remove(tx, name)
        audit.append(tx, audit.default_actor(), "compute.remove", f"compute {name}")


@dataclass
class TargetStatus:
    target: ComputeTarget
    nodes: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def describe_target(store: Store, name: str) -> TargetStatus:
    """A target and, for a reachable Ray cluster, its nodes and their resources (an
    unreachable cluster is described with the error, not raised)."""
    target = get_target(store, name)
    status = TargetStatus(target)
    try:
        from gyre.pipelines.executors.ray.connection import check_reachable, ray_module

        check_reachable(target.address)
        ray = ray_module()
        ray.init(
            address=target.address,
            namespace="gyre",
            ignore_reinit_error=True,
            logging_level="ERROR",
        )
        status.nodes = [
            {"host": n["NodeManagerAddress"], "alive": n["Alive"], "resources": n["Resources"]}
            for n in ray.nodes()
        ]
        ray.shutdown()
    except Exception as exc:  # described, not raised: show works for unreachable clusters
        status.error = str(exc)
    return status


def stop_warm_drivers(store: Store, name: str) -> int:
    """Stop the warm Ray drivers serving a target; returns how many were stopped."""
    from gyre.pipelines.executors.ray.warm_driver import stop_all

    return stop_all(get_target(store, name).address)
