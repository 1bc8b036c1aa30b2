"""Server processes: start in their own process group, wait until ready, stop with SIGTERM.

Each server runs in a new session (its own process group), so stopping it reaches the worker
processes it forked too (MLServer's inference worker, uvicorn under ``mlflow models serve``,
BentoML's service process). ``leftovers`` looks in ``/proc`` for anything still alive in the
groups this benchmark started. ``paused`` stops the groups of the servers not under load
(SIGSTOP) and continues them after: an idle server can still use CPU (LitServe's worker
loops poll, about 0.2 of a core here), which on two cores would go out of another's share.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 180.0
STOP_GRACE_S = 40.0
_started_groups: list[int] = []


class ServerFailed(Exception):
    """A server did not start, or answered wrongly; the message says why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    label: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def tail(self, lines: int = 12) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def wait_ready(self, path: str, timeout: float = READY_TIMEOUT_S) -> float:
        """Seconds until GET ``path`` answers 200."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"{self.label} exited with {self.process.returncode} before it was ready:\n"
                    f"{self.tail()}"
                )
            try:
                with urllib.request.urlopen(self.url(path), timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise ServerFailed(f"{self.label} was not ready after {timeout:.0f} s:\n{self.tail()}")

    def post(self, path: str, body: bytes) -> Any:
        request = urllib.request.Request(
            self.url(path), data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise ServerFailed(f"{self.label} answered {exc.code}: {detail}") from None

    def get_text(self, path: str) -> str:
        with urllib.request.urlopen(self.url(path), timeout=10) as answer:
            text: str = answer.read().decode()
            return text

    def stop(self) -> int | None:
        """SIGTERM to the whole group, wait; SIGKILL what is left. The server's exit status."""
        group = self.process.pid
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and (self.process.poll() is None or _alive(group)):
            time.sleep(0.1)
        if self.process.poll() is None or _alive(group):
            print(f"  {self.label} still running {STOP_GRACE_S:.0f} s after SIGTERM: SIGKILL")
            _signal_group(group, signal.SIGKILL)
            self.process.wait(timeout=10)
        return self.process.returncode


def start(
    label: str, argv: list[str], *, cwd: Path, env: dict[str, str], port: int, log: Path
) -> Server:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    _started_groups.append(process.pid)
    return Server(label, process, f"http://127.0.0.1:{port}", log)


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _members(group: int) -> list[str]:
    """'pid command' of every live (non-zombie) process in ``group``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            found.append(f"{entry.name} {cmdline.strip()[:120]}")
    return found


def _alive(group: int) -> bool:
    return bool(_members(group))


def leftovers() -> list[str]:
    """Processes still alive in any group this benchmark started."""
    return [member for group in _started_groups for member in _members(group)]


@contextlib.contextmanager
def paused(servers: list[Server]) -> Iterator[None]:
    """The servers' process groups stopped (SIGSTOP) meanwhile, continued (SIGCONT) after."""
    try:
        for server in servers:
            _signal_group(server.process.pid, signal.SIGSTOP)
        yield
    finally:
        for server in servers:
            _signal_group(server.process.pid, signal.SIGCONT)


def stop_all(servers: list[Server]) -> None:
    for server in servers:
        _signal_group(server.process.pid, signal.SIGCONT)  # in case it was left paused
        if server.process.poll() is None or _alive(server.process.pid):
            server.stop()


def kill_leftovers() -> None:
    for group in _started_groups:
        if _alive(group):
            _signal_group(group, signal.SIGKILL)
