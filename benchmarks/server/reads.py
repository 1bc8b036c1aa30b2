"""Reading from both servers: (c) the filtered run list, request after request, and (d) run
pages under 32 concurrent clients, driven by wrk (one thread, keep-alive connections, the
serving benchmark's wrk set-up and parser).
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent


def _serving_load() -> ModuleType:
    """The serving benchmark's ``load.py`` (wrk set-up and parser), by its path: its folder
    has a ``venvs`` module of its own, so it is not put on ``sys.path``."""
    spec = importlib.util.spec_from_file_location(
        "serving_load", HERE.parent / "serving" / "load.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_load = _serving_load()
LoadResult = _load.LoadResult
WrkMissing = _load.WrkMissing
ensure_wrk = _load.ensure_wrk
parse = _load.parse

LUA = HERE / "run_pages.lua"
WRK_TIMEOUT = "10s"


@dataclass(frozen=True)
class Latencies:
    seconds: list[float]

    def percentile(self, p: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    @property
    def p95_ms(self) -> float:
        return self.percentile(95) * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000


def timed_requests(
    send: Callable[[httpx.Client], httpx.Response],
    base_url: str,
    headers: dict[str, str],
    count: int,
    *,
    warm_up: int = 3,
    budget_s: float = 60.0,
    check: Callable[[httpx.Response], None] | None = None,
) -> Latencies:
    """``count`` requests one after the other on one keep-alive connection, after ``warm_up``;
    fewer (at least 5) when they have taken ``budget_s`` already."""
    seconds: list[float] = []
    deadline = time.perf_counter() + budget_s
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as http:
        for index in range(warm_up + count):
            if len(seconds) >= 5 and time.perf_counter() > deadline:
                break
            started = time.perf_counter()
            answer = send(http)
            elapsed = time.perf_counter() - started
            answer.raise_for_status()
            if check is not None:
                check(answer)
            if index >= warm_up:
                seconds.append(elapsed)
    return Latencies(seconds)


def run_pages(
    base_url: str,
    paths: list[str],
    headers: dict[str, str],
    clients: int,
    seconds: float,
    scratch: Path,
) -> Any:
    """wrk with ``clients`` connections GETting ``paths`` in turn for ``seconds``: a
    ``LoadResult`` of the serving benchmark (requests, errors, rps, p50 and p99)."""
    wrk = ensure_wrk()
    listing = scratch / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    argv = [
        wrk,
        "-t1",
        f"-c{clients}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={WRK_TIMEOUT}",
        "--latency",
        "-s",
        str(LUA),
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*argv, base_url],
        env={**os.environ, "BENCH_PATHS": str(listing)},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return parse(done.stdout)
