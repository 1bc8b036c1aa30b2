"""The warm Ray driver: runs on a cluster of this host start their steps at once.

A process that drives Ray pays for it on every ``gyre run``: importing Ray (0.3 s on a 2-core
machine), connecting, preparing serialization, starting the job's workers, and at the end
Ray's shutdown (0.28 s, most of it a fixed 250 ms wait in its gRPC client). So a run on a
cluster of this host goes through a driver process that stays up between runs instead
(``warm_driver_service``): the run's own process sends it the step attempts over a Unix
socket, tails the step logs as before, and never imports Ray. The first run starts the warm
driver; it ends ``KEEP_ALIVE_S`` after its last run, leaving warm workers behind as any
driver does (``warm_workers``).

One warm driver serves one Ray cluster, one Python, one gyre and one state of the project's
modules: its key is a digest of the cluster address, ``sys.executable``, the size and mtime
of every module file (``MODULE_SUFFIXES``) of the project and of gyre, and the mtimes of the
folders on ``sys.path`` (which change when packages are installed or removed). Its workers
keep the modules they imported, so once any of that changes, the next run gets a new warm
driver (and new workers) and the old one ends when idle. Not covered: edits inside another
package installed in development mode, and files a module reads while it is imported; after
those, ``gyre compute stop TARGET``. Projects of more than ``MAX_FILES`` modules, Ray Client
addresses (``ray://``), clusters with a node on another host, and ``GYRE_RAY_WARM_DRIVER=0``
use a driver in the run's own process (``connection``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pickle
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gyre.errors import ComputeUnavailable, GyreError
from gyre.pipelines.executors.ray.tasks import Outcome

KEEP_ALIVE_S = 60.0
START_TIMEOUT_S = 120.0
HELLO_TIMEOUT_S = 10.0  # a warm driver that does not answer in time is treated as gone
MAX_FILES = 10_000
STALE_S = 86_400.0  # lock files and logs of ended warm drivers are removed after a day
SKIPPED_DIRS = {".gyre", ".venv", ".git", "__pycache__", "node_modules", ".demo", ".bench-cache"}
MODULE_SUFFIXES = (".py", ".so", ".pyd", ".pth")  # what a worker keeps once imported
EXIT_NOT_SAME_HOST = 3  # the service's exit status when the cluster spans several hosts
_HEADER = struct.Struct("!Q")


def enabled(address: str) -> bool:
    flag = os.environ.get("GYRE_RAY_WARM_DRIVER", "1").lower()
    return flag not in ("0", "false", "no") and not address.startswith("ray://")


def runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"gyre-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise ComputeUnavailable(
            f"{folder} must belong to you and be private (mode 700): gyre keeps the sockets "
            "of its warm Ray drivers there. Remove it, or set GYRE_RAY_WARM_DRIVER=0."
        )
    return folder


def driver_key(address: str, project_root: Path) -> str | None:
    """The digest that names the warm driver for these sources, or None for too many files."""
    import gyre

    digest = hashlib.sha256(f"{address}\0{sys.executable}\0{gyre.__version__}\n".encode())
    files = 0
    for root in (project_root.resolve(), Path(gyre.__file__).resolve().parent):
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            modules = sorted(name for name in names if name.endswith(MODULE_SUFFIXES))
            files += len(modules)
            if files > MAX_FILES:
                return None
            for name in modules:
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):  # removed while we look: it changed anyway
                    stat = os.stat(path)
                    digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for entry in sys.path:
        with contextlib.suppress(OSError):
            digest.update(f"{entry}\0{os.stat(entry or '.').st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


# -- framing: length-prefixed pickles between processes of the same user -----------------------


def send(sock: socket.socket, message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(body)) + body)


def receive(sock: socket.socket) -> Any:
    """The next message, or None when the other side closed the connection."""
    header = _read_exactly(sock, _HEADER.size)
    if header is None:
        return None
    body = _read_exactly(sock, _HEADER.unpack(header)[0])
    if body is None:
        raise ComputeUnavailable("the warm Ray driver's connection closed mid-message")
    return pickle.loads(body)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


# -- the client: what a run's process uses -----------------------------------------------------


class WarmDriverClient:
    """The ``RayTasks`` interface, carried out by the warm driver; handles are integers."""

    def __init__(self, sock: socket.socket, hello: dict[str, Any]) -> None:
        self.sock = sock
        self.hosts: int = hello["hosts"]
        self.driver_pid: int = hello["pid"]
        self._nodes: list[dict[str, float]] = hello["nodes"]
        self._broken = False

    def _request(self, message: dict[str, Any]) -> Any:
        if self._broken:
            raise ComputeUnavailable("the connection to the warm Ray driver was interrupted")
        try:
            send(self.sock, message)
            reply = receive(self.sock)
        except BaseException:  # mid-request (Ctrl-C included): the stream is out of step
            self._break()
            raise
        if reply is None:
            self._break()
            raise ComputeUnavailable(
                f"The warm Ray driver (pid {self.driver_pid}) ended during the run (its log is "
                f"in {runtime_dir()}). Run again to start a new one."
            )
        if isinstance(reply, dict) and "failed" in reply:
            raise ComputeUnavailable(reply["failed"])
        return reply

    def _break(self) -> None:
        """Close the connection: the warm driver then cancels every task it still runs for us."""
        self._broken = True
        with contextlib.suppress(OSError):
            self.sock.close()

    def node_resources(self) -> list[dict[str, float]]:
        return self._nodes

    def submit(
        self, spec: dict[str, Any], options: dict[str, Any], isolate: bool, queue: Any
    ) -> int:
        handle: int = self._request(
            {"op": "submit", "spec": spec, "options": options, "isolate": isolate}
        )
        return handle

    def wait(self, refs: list[Any], timeout: float) -> list[tuple[Any, Outcome]]:
        """As ``RayTasks.wait``; ``refs`` are all the handles still running."""
        if self._broken:  # the warm driver cancelled them when the connection closed
            return [(handle, Outcome(cancelled=True)) for handle in refs]
        if not refs:
            return []
        try:
            ended_now: list[tuple[int, Outcome]] = self._request({"op": "wait", "timeout": timeout})
        except (GyreError, OSError) as exc:  # the warm driver ended: its tasks ended with it
            failed = Outcome(error=f"the warm Ray driver went away: {exc}", error_text=f"{exc}\n")
            return [(handle, failed) for handle in refs]
        return ended_now

    def cancel(self, ref: Any) -> None:
        if not self._broken:
            self._request({"op": "cancel", "handle": ref})

    def close(self) -> None:
        self._break()


def attach(address: str, project_root: Path) -> WarmDriverClient | None:
    """The warm driver for this cluster and these sources, started if need be.

    None where a warm driver does not serve (see the module's docstring): the run then drives
    Ray itself.
    """
    if not enabled(address):
        return None
    key = driver_key(address, project_root)
    if key is None:
        return None
    folder = runtime_dir()
    path = folder / f"ray-{_cluster_tag(address)}-{key}.sock"
    hello = _hello(path)
    if hello is None:
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one start at a time; a second run waits for it
            hello = _hello(path) or _start(path, address, project_root)
    return None if hello is None else _client(*hello)


def _cluster_tag(address: str) -> str:
    """The part of a warm driver's file names that says which cluster it serves."""
    return hashlib.sha256(address.encode()).hexdigest()[:8]


def _sweep(folder: Path) -> None:
    """Remove what ended warm drivers left (lock files, logs) once it is a day old."""
    cutoff = time.time() - STALE_S
    for leftover in [*folder.glob("ray-*.lock"), *folder.glob("ray-*.log")]:
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff and not leftover.with_suffix(".sock").exists():
                leftover.unlink()


def _hello(path: Path) -> tuple[socket.socket, dict[str, Any]] | None:
    """A connection to the warm driver at ``path`` and its greeting; None if none answers."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(HELLO_TIMEOUT_S)
    try:
        sock.connect(str(path))
        send(sock, {"op": "hello"})
        hello = receive(sock)
    except OSError:  # TimeoutError included: a driver stuck on a cluster that went away
        sock.close()
        return None
    if not hello:
        sock.close()
        return None
    sock.settimeout(None)
    return sock, hello


def _client(sock: socket.socket, hello: dict[str, Any]) -> WarmDriverClient | None:
    if not hello.get("same_host"):  # a host joined: this run drives Ray itself
        sock.close()
        return None
    return WarmDriverClient(sock, hello)


def _start(
    path: Path, address: str, project_root: Path
) -> tuple[socket.socket, dict[str, Any]] | None:
    """Start the warm driver and greet it; None when the cluster spans several hosts."""
    log_path = path.with_suffix(".log")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a warm driver that was killed
    _sweep(path.parent)
    _reap()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gyre.pipelines.executors.ray.warm_driver_service",
                str(path),
                address,
                str(project_root.resolve()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # not ended by the Ctrl-C meant for this run
        )
    _started.append(process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            if code == EXIT_NOT_SAME_HOST:
                return None
            with contextlib.suppress(OSError):
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                if tail:
                    raise ComputeUnavailable(tail[0])
            raise ComputeUnavailable(f"The warm Ray driver for {address} exited with code {code}.")
        if path.exists():
            hello = _hello(path)
            if hello is not None:
                return hello
        time.sleep(0.02)
    process.kill()
    raise ComputeUnavailable(
        f"The warm Ray driver for {address} did not start within {START_TIMEOUT_S:.0f} s "
        f"(its log: {log_path}). Set GYRE_RAY_WARM_DRIVER=0 to drive Ray from the run itself."
    )


_started: list[subprocess.Popen[bytes]] = []  # warm drivers this process started


def _reap() -> None:
    """Collect the exit status of warm drivers this process started that have ended since."""
    _started[:] = [process for process in _started if process.poll() is None]


def stop_all(address: str | None = None) -> int:
    """Stop this user's warm drivers (of the cluster at ``address``, or all); returns how many.

    Each ends its Ray job at once, cancelling what it still runs.
    """
    stopped = 0
    pattern = "ray-*.sock" if address is None else f"ray-{_cluster_tag(address)}-*.sock"
    for path in runtime_dir().glob(pattern):
        hello = _hello(path)
        if hello is None:
            continue
        sock, _ = hello
        try:
            send(sock, {"op": "stop"})
            receive(sock)
            stopped += 1
        except OSError:
            continue
        finally:
            sock.close()
    return stopped
