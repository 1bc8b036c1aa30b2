"""A real ``gyre serve`` process on a free 127.0.0.1 port, as users run it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from support.ports import free_port


class ScoringServer:
    """``gyre serve ARGS`` started in ``project``; waits until it is ready (or fails with its
    log)."""

    def __init__(self, project: Path, *args: str, timeout_s: float = 90) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = project / f"server-{self.port}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gyre.cli.main", "serve", *args, "--port", str(self.port)],
            stdout=open(self.log, "w"),  # noqa: SIM115 - the server's own log, kept open
            stderr=subprocess.STDOUT,
            cwd=project,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"server did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def post(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=30, **kw)

    def raw(self, method: str, path: str, content: bytes = b"", **headers: str) -> httpx.Response:
        return httpx.request(
            method, f"{self.url}{path}", content=content, headers=headers, timeout=30
        )

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=60)
