"""The driver's connection to a Ray cluster: one per process, shut down before the process exits.

Two ways to reach the workers, chosen per connection:

* **Same host.** When every live node of the cluster runs on the driver's own host (``auto``,
  or a local address), workers read the project folder and write step logs in place: no
  runtime-environment upload, no log actor. Each of those costs a worker process start per
  run, and on a small machine that start-up CPU competes with the steps.
* **Remote.** Through Ray Client (``ray://``) or when any node is on another host, the project
  folder travels as the job's runtime-environment working directory and logs come back
  through a Ray queue.

Ray's own exit hook sleeps half a second and tears down slowly at interpreter exit; gyre
disconnects in an earlier ``atexit`` hook instead (measured: a one-step run's process exits
~0.7 s sooner). The job's workers end with it; on a same-host cluster ``disconnect`` first
leaves as many idle ones for the next job (``warm_workers``). Runs in one process share
the connection, and so the job and its workers.
"""

from __future__ import annotations

import atexit
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import ComputeUnavailable, MissingExtra
from gyre.pipelines.executors.ray import warm_workers

CONNECT_TIMEOUT_S = 5.0
EXCLUDES = [".gyre", ".venv", ".git", "**/__pycache__", ".demo", ".bench-cache", "data"]


@dataclass(frozen=True)
class Connection:
    address: str
    working_dir: str | None  # the uploaded project folder; None on the same host
    same_host: bool
    hosts: int


class _ProcessState:
    """This process's one connection (Ray allows one per process) and its exit hook."""

    current: Connection | None = None
    exit_hook_registered = False
    workers_used: set[int] = set()  # pids of the workers this connection's steps ran in


_state = _ProcessState()


def ray_module() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra("ray", "ray", "Running steps on a Ray compute target") from exc
    return ray


def check_reachable(address: str) -> None:
    """Fail fast, naming the address, when nothing answers there."""
    if address in ("auto", "local"):
        return
    host_port = address.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S):
            return
    except (OSError, ValueError) as exc:
        raise ComputeUnavailable(
            f"The Ray cluster at {address} cannot be reached ({exc}). Check that it runs "
            "(ray start --head) and that the address is ray://HOST:10001 or auto."
        ) from None


def connect(address: str, project_root: Path) -> Connection:
    """Connect (or reuse this process's connection) for a run of the project at ``project_root``."""
    ray = ray_module()
    root = str(project_root.resolve())
    current = _state.current
    if (
        current is not None
        and ray.is_initialized()
        and current.address == address
        and (current.same_host or current.working_dir == root)
        and topology(address) == (current.same_host, current.hosts)  # no host joined
    ):
        return current
    disconnect()
    check_reachable(address)
    if address.startswith("ray://"):
        current = _init(ray, address, working_dir=root)
    else:
        current = _init(ray, address, working_dir=None)
        if not current.same_host:  # workers elsewhere need the project folder shipped to them
            ray.shutdown()
            current = _init(ray, address, working_dir=root)
    _state.current = current
    return current


def _init(ray: Any, address: str, *, working_dir: str | None) -> Connection:
    runtime_env = {"working_dir": working_dir, "excludes": EXCLUDES} if working_dir else None
    try:
        ray.init(
            address=address,
            namespace="gyre",
            log_to_driver=False,
            runtime_env=runtime_env,
            logging_level="ERROR",
        )
    except ConnectionError as exc:
        raise ComputeUnavailable(f"The Ray cluster at {address} cannot be reached: {exc}") from None
    if not _state.exit_hook_registered:  # runs before Ray's own (atexit: last in, first out)
        atexit.register(disconnect)
        _state.exit_hook_registered = True
    same_host, hosts = topology(address)
    return Connection(address, working_dir, same_host, hosts)


def topology(address: str) -> tuple[bool, int]:
    """(whether every live node runs on the driver's host, how many hosts there are)."""
    ray = ray_module()
    alive = [n for n in ray.nodes() if n["Alive"]]
    hosts = {n["NodeManagerAddress"] for n in alive}
    same_host = False
    if not address.startswith("ray://"):
        own = ray.get_runtime_context().get_node_id()
        mine = {n["NodeManagerAddress"] for n in alive if n["NodeID"] == own}
        same_host = bool(mine) and hosts == mine
    return same_host, len(hosts)


def current() -> Connection | None:
    """This process's live connection, if any."""
    return _state.current


def worker_used(pid: int) -> None:
    """Note a worker process a step ran in (for the warm workers left at disconnect)."""
    if pid:
        _state.workers_used.add(pid)


def disconnect() -> None:
    """End this process's Ray job; on a same-host cluster, leave warm workers for the next."""
    current, _state.current = _state.current, None
    used, _state.workers_used = _state.workers_used, set()
    ray: Any = sys.modules.get("ray")  # never imported: nothing to end
    if ray is None or not ray.is_initialized():
        return
    nodes = ray.nodes() if current is not None and current.same_host and used else []
    ray.shutdown()
    if nodes:  # after the job ended, so the new workers' start-up does not slow its end
        warm_workers.prestart(nodes, len(used))
