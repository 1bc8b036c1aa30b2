"""Load generation with wrk: one thread, ``c`` keep-alive connections, a fixed JSON body.

``post.lua`` posts the body in the file named by ``BENCH_BODY``. wrk prints requests, latency
percentiles (``--latency``), non-2xx responses and socket errors; ``parse`` reads them back.
One wrk thread suffices for these rates and leaves the second core to the server.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "post.lua"
WRK_TIMEOUT = "10s"  # a request slower than this counts as a socket timeout error
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


class WrkMissing(Exception):
    pass


@dataclass(frozen=True)
class LoadResult:
    requests: int  # completed responses, any status
    non_2xx: int
    socket_errors: int  # connect + read + write + timeout
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def answered(self) -> int:
        return self.requests - self.non_2xx

    @property
    def rps(self) -> float:
        """2xx responses per second."""
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def ensure_wrk() -> str:
    """The wrk executable; installs the Debian package when missing and allowed to."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("  wrk is missing: apt-get install -y wrk ...", flush=True)
        for argv in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "wrk"]):
            subprocess.run(argv, check=False, capture_output=True, timeout=600)
        found = shutil.which("wrk")
        if found:
            return found
    raise WrkMissing(
        "this benchmark drives the servers with wrk, which is not installed. Install it "
        "(Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk) and run again."
    )


def run_wrk(wrk: str, url: str, body: Path, concurrency: int, seconds: float) -> LoadResult:
    argv = [
        wrk,
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={WRK_TIMEOUT}",
        "--latency",
        "-s",
        str(SCRIPT),
        url,
    ]
    env = {**os.environ, "BENCH_BODY": str(body)}
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return parse(done.stdout)


def parse(text: str) -> LoadResult:
    totals = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if totals is None:
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return LoadResult(
        requests=int(totals.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        seconds=float(totals.group(2)) * _UNITS_MS[totals.group(3)] / 1000,
        p50_ms=_percentile(text, "50"),
        p99_ms=_percentile(text, "99"),
    )


def _percentile(text: str, which: str) -> float:
    found = re.search(rf"^\s*{which}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    if found is None:  # no completed request: no latency distribution
        return float("nan")
    return float(found.group(1)) * _UNITS_MS[found.group(2)]
