"""Idle Ray workers left ready for the next run on a cluster of this host.

Ray binds worker processes to a job and ends them with it, so every ``gyre run`` (a new Ray
job) would wait for fresh workers: about 0.5 s on a 2-core machine before its first step
starts. When a process that ran steps on a same-host cluster disconnects (at its exit), gyre
asks each raylet to prestart as many Python workers as its steps used (at most the node's
CPUs), not bound to any job and kept for ``KEEP_ALIVE_S``: the next run leases them at
once, and Ray ends them when the time is up (measured: a new job's first task starts 0.13 s
after connecting instead of 0.46 s). Ray does the same on its own for the first driver after
``ray start``.

This goes through the raylet's ``PrestartWorkers`` RPC, which Ray's Python API does not
expose; it is best effort, and any failure (another Ray version, a raylet that refuses) only
means the next run starts its workers itself. ``GYRE_RAY_WARM_WORKERS=0`` turns it off.
"""

from __future__ import annotations

import os
from typing import Any

KEEP_ALIVE_S = 60
MAX_PER_NODE = 16
RPC_TIMEOUT_S = 2.0


def enabled() -> bool:
    return os.environ.get("GYRE_RAY_WARM_WORKERS", "1") not in ("0", "false", "no")


def prestart(nodes: list[dict[str, Any]], used: int) -> int:
    """Ask each live node's raylet for up to ``used`` idle workers; returns how many in all.

    Replacing only what a job used keeps the idle pool from growing run after run: the
    workers a job leased end with it, prestarted ones included.
    """
    if not enabled():
        return 0
    try:
        import grpc  # type: ignore[import-untyped]
        from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc
    except ImportError:
        return 0
    messages: Any = node_manager_pb2
    languages: Any = common_pb2
    stubs: Any = node_manager_pb2_grpc
    asked = 0
    for node in nodes:
        count = min(int(node.get("Resources", {}).get("CPU", 0)), used, MAX_PER_NODE)
        if not node.get("Alive") or count < 1:
            continue
        request = messages.PrestartWorkersRequest(
            language=languages.PYTHON, keep_alive_duration_secs=KEEP_ALIVE_S, num_workers=count
        )
        target = f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}"
        try:
            with grpc.insecure_channel(target) as channel:
                stub = stubs.NodeManagerServiceStub(channel)
                stub.PrestartWorkers(request, timeout=RPC_TIMEOUT_S)
        except Exception:  # best effort: the next run starts its own workers
            continue
        asked += count
    return asked
