"""``gyre server`` in a real process on a free port, for tests that talk to it over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.ports import free_port


@dataclass
class TeamServer:
    url: str
    process: subprocess.Popen[str]
    admin_token: str | None
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30)


def _admin_token(log: Path) -> str | None:
    for line in log.read_text().splitlines():
        text = line.strip()
        if text.startswith("gyre_t_"):
            return text
    return None


@contextmanager
def team_server(
    env: dict[str, str],
    cwd: Path,
    *extra: str,
    log_name: str = "server.log",
    port: int | None = None,
) -> Iterator[TeamServer]:
    """Start ``gyre server`` with ``env`` (GYRE_URI, ...); wait until /health answers."""
    port = port or free_port()
    log = cwd / log_name
    out = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gyre.cli.main", "server", "--port", str(port), *extra],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"gyre server exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gyre server did not answer:\n{log.read_text()}")
            time.sleep(0.1)
        yield TeamServer(url, process, _admin_token(log), log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()
