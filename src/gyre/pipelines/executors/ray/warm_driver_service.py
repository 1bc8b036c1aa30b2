"""The warm Ray driver's process (see ``warm_driver``).

    python -m gyre.pipelines.executors.ray.warm_driver_service SOCKET ADDRESS PROJECT_ROOT

It connects to the cluster once, then serves each connected run on a thread of its own:
``hello`` (the cluster's nodes and whether all are on this host), ``submit``, ``wait``,
``cancel``. The tasks a run submitted are cancelled if its connection closes before they end
(the run was interrupted or killed). It ends ``KEEP_ALIVE_S`` after the last run left, on
``stop`` or SIGTERM, ending its Ray job as every driver does (warm workers are left behind).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gyre.errors import ComputeUnavailable, GyreError
from gyre.pipelines.executors.ray import connection
from gyre.pipelines.executors.ray.tasks import RayTasks
from gyre.pipelines.executors.ray.warm_driver import (
    EXIT_NOT_SAME_HOST,
    KEEP_ALIVE_S,
    receive,
    send,
)

ACCEPT_POLL_S = 1.0


class WarmDriver:
    def __init__(self, address: str, project_root: Path) -> None:
        self.address = address
        self.project_root = project_root
        self.connection = connection.connect(address, project_root)
        self.tasks = RayTasks(connection.ray_module())
        self.handles = itertools.count(1)
        self.lock = threading.Lock()
        self.clients = 0
        self.last_left = time.monotonic()
        self.stopping = threading.Event()  # accept no more runs
        self.forced = threading.Event()  # and do not wait for the ones still going

    def hello(self) -> dict[str, Any]:
        same_host, hosts = connection.topology(self.address)
        if not same_host:
            self.stopping.set()  # a host joined: runs drive Ray themselves from now on
        return {
            "same_host": same_host,
            "hosts": hosts,
            "nodes": self.tasks.node_resources(),
            "pid": os.getpid(),
            "address": self.address,
        }

    def joined(self) -> None:
        with self.lock:
            self.clients += 1

    def serve_client(self, sock: socket.socket) -> None:
        """Serve one run's connection (``joined`` was called for it)."""
        refs: dict[int, Any] = {}
        try:
            while (message := receive(sock)) is not None:
                try:
                    reply = self._handle(message, refs)
                except GyreError as exc:
                    reply = {"failed": str(exc)}
                except Exception as exc:  # e.g. the cluster went away: the run reports it
                    reply = {"failed": f"The warm Ray driver failed: {type(exc).__name__}: {exc}"}
                send(sock, reply)
        except OSError:
            pass  # the run went away; what it left running is cancelled below
        finally:
            for ref in refs.values():
                with contextlib.suppress(Exception):
                    self.tasks.cancel(ref)
            sock.close()
            with self.lock:
                self.clients -= 1
                self.last_left = time.monotonic()

    def _handle(self, message: dict[str, Any], refs: dict[int, Any]) -> Any:
        op = message["op"]
        if op == "hello":
            return self.hello()
        if op == "submit":
            handle = next(self.handles)
            refs[handle] = self.tasks.submit(
                message["spec"], message["options"], message["isolate"], None
            )
            return handle
        if op == "wait":
            by_ref = {ref: handle for handle, ref in refs.items()}
            ended = []
            for ref, outcome in self.tasks.wait(list(refs.values()), message["timeout"]):
                handle = by_ref[ref]
                del refs[handle]
                if outcome.result:
                    connection.worker_used(int(outcome.result.get("pid") or 0))
                ended.append((handle, outcome))
            return ended
        if op == "cancel":
            if message["handle"] in refs:
                self.tasks.cancel(refs[message["handle"]])
            return True
        if op == "stop":
            self.stop()
            return True
        raise ComputeUnavailable(f"The warm Ray driver does not know the request {op!r}.")

    def stop(self) -> None:
        """End now: no more runs, and the ones still going are not waited for."""
        self.forced.set()
        self.stopping.set()

    def idle_for(self) -> float:
        with self.lock:
            return 0.0 if self.clients else time.monotonic() - self.last_left


def serve(path: Path, address: str, project_root: Path) -> int:
    try:
        driver = WarmDriver(address, project_root)
    except GyreError as exc:
        print(exc, file=sys.stderr, flush=True)
        return 2
    if not driver.connection.same_host:
        return EXIT_NOT_SAME_HOST
    signal.signal(signal.SIGTERM, lambda *_: driver.stop())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temporary = path.with_name(f"{path.name}.{os.getpid()}")
    listener.bind(str(temporary))
    os.chmod(temporary, 0o600)
    listener.listen(64)
    listener.settimeout(ACCEPT_POLL_S)
    os.replace(temporary, path)  # runs that connect from now on find a driver ready
    bound = os.stat(path).st_ino
    try:
        while not driver.stopping.is_set() and driver.idle_for() < KEEP_ALIVE_S:
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(None)
            driver.joined()
            threading.Thread(target=driver.serve_client, args=(sock,), daemon=True).start()
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == bound:  # not a newer driver's socket
                path.unlink()
        listener.close()
        while driver.idle_for() == 0.0 and not driver.forced.wait(ACCEPT_POLL_S):
            pass  # runs still going finish first
    finally:
        connection.disconnect()
    log = path.with_suffix(".log")
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0:  # nothing went wrong: nothing to keep
            log.unlink()
    return 0


def main(argv: list[str]) -> int:
    path, address, project_root = argv
    return serve(Path(path), address, Path(project_root))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
