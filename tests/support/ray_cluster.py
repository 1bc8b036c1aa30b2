"""A real local Ray cluster: a head node and a worker node on this machine, as users start one.

The nodes are `ray start --block` processes (2 CPUs on the head, 1 on the worker, capped object
stores), each in a process group of its own, so that what a node leaves running can be
killed. The ``ray_cluster`` fixture in tests/conftest.py starts one per test session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.ports import free_port

RAY = str(Path(sys.executable).parent / "ray")


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [RAY, "start", "--block", "--disable-usage-stats", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop nodes, the last started first: SIGTERM to each `ray start` process, which stops its
    node's processes in ~2 s (SIGTERM to the whole process group at once keeps a head node
    busy for ~30 s), then SIGKILL to the group of any still there after 30 s."""
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything of the node still running


def wait_for_nodes(address: str, count: int, give_up_s: float = 90) -> None:
    """Wait until the cluster at ``address`` has exactly ``count`` live nodes."""
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    deadline = time.monotonic() + give_up_s
    while time.monotonic() < deadline:
        done = subprocess.run(
            [sys.executable, "-c", probe, address], capture_output=True, text=True
        )
        if done.returncode == 0 and done.stdout.strip() == str(count):
            return
        time.sleep(1)
    raise AssertionError(f"the Ray cluster at {address} did not reach {count} nodes")


def warm_drivers(address: str) -> set[int]:
    """Pids of the warm Ray driver processes serving the cluster at ``address``."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gyre.pipelines.executors.ray.warm_driver_service" in args and address.encode() in args:
            found.add(int(cmdline.parent.name))
    return found


def stop_warm_drivers(address: str, give_up_s: float = 30) -> None:
    """Stop gyre's warm drivers of ``address`` and wait until their processes are gone."""
    from gyre.pipelines.executors.ray import warm_driver as ray_warm_driver

    ray_warm_driver.stop_all(address)
    deadline = time.monotonic() + give_up_s
    while warm_drivers(address) and time.monotonic() < deadline:
        time.sleep(0.1)


@dataclass
class LocalRayCluster:
    """The nodes of a cluster started here; ``address`` is what a compute target names."""

    address: str
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls) -> LocalRayCluster:
        """A head node (2 CPUs) and a worker node (1 CPU) on 127.0.0.1, both up."""
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        port = free_port()
        head = _start(
            [
                "--head",
                f"--port={port}",
                "--num-cpus=2",
                "--include-dashboard=false",
                "--node-ip-address=127.0.0.1",
                "--object-store-memory=100000000",
                f"--ray-client-server-port={free_port()}",
                f"--node-manager-port={free_port()}",
                f"--object-manager-port={free_port()}",
            ],
            env,
        )
        cluster = cls(f"127.0.0.1:{port}", env, [head])
        try:
            wait_for_nodes(cluster.address, 1)
            cluster.add_node("127.0.0.1", 2)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _worker_node(self, ip: str) -> subprocess.Popen[bytes]:
        # Ports are picked only now, with the head up: its agents take ephemeral ports as they
        # start, and a port picked before that could be taken by the time this node binds it.
        return _start(
            [
                f"--address={self.address}",
                "--num-cpus=1",
                f"--node-ip-address={ip}",
                "--object-store-memory=80000000",
                f"--node-manager-port={free_port()}",
                f"--object-manager-port={free_port()}",
            ],
            self.env,
        )

    def add_node(self, ip: str, count: int) -> subprocess.Popen[bytes]:
        """Start a worker node and wait until the cluster has ``count`` nodes (one retry)."""
        for attempt in (1, 2):
            node = self._worker_node(ip)
            self.processes.append(node)
            try:
                wait_for_nodes(self.address, count, give_up_s=45 if attempt == 1 else 90)
                return node
            except AssertionError:
                if attempt == 2:
                    raise
                self.remove_node(node)  # e.g. a port taken between picking and binding it
        raise AssertionError("unreachable")

    def remove_node(self, node: subprocess.Popen[bytes], count: int | None = None) -> None:
        """Stop a node this cluster added; with ``count``, wait until that many nodes live."""
        stop_processes([node])
        self.processes.remove(node)
        if count is not None:
            wait_for_nodes(self.address, count)

    def stop(self) -> None:
        """Disconnect this process, stop gyre's warm drivers, then every node.

        The nodes are stopped whatever fails before (a node left running outlives the tests).
        """
        try:
            import ray

            ray.shutdown()
            from gyre.pipelines.executors.ray import warm_driver as ray_warm_driver

            ray_warm_driver.stop_all(self.address)
        finally:
            stop_processes(self.processes)
