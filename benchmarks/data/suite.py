"""The measurements: for each input, the hashing bound, then each tool's first add and unchanged
re-add in a fresh workspace, repetitions interleaved across tools (so a slow minute on a shared
machine hits both tools, not one)."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from inputs import CACHE, Input
from processes import Measured, measure, run_quietly, settle
from tools import Tool

HASHING_SCRIPT = str(Path(__file__).with_name("hashing.py"))
WORK = CACHE / "work"
LOGS = CACHE / "logs"


@dataclass
class Samples:
    """Every repetition's value, by (input key, tool, what) → list."""

    values: dict[tuple[str, str, str], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, key: str, tool: str, what: str, value: float) -> None:
        self.values[(key, tool, what)].append(value)

    def median(self, key: str, tool: str, what: str) -> float:
        return statistics.median(self.values[(key, tool, what)])


@dataclass(frozen=True)
class Conditions:
    reps: int
    cold: bool  # empty the page cache before each timed command (else: warm the input)


def run_suite(items: list[Input], tools: list[Tool], conditions: Conditions) -> Samples:
    samples = Samples()
    shutil.rmtree(WORK, ignore_errors=True)  # left by an interrupted run
    for item in items:
        print(f"\n{item.label} ({item.size / 2**20:,.0f} MB in all)", flush=True)
        for rep in range(conditions.reps):
            seconds = _hash_bound(item, conditions)
            samples.add(item.key, "sha256", "hash", seconds)
            print(f"  rep {rep + 1}: sha256 bound {seconds:.2f} s", flush=True)
        for rep in range(conditions.reps):
            for tool in tools:
                _first_and_readd(item, tool, rep, conditions, samples)
    shutil.rmtree(WORK, ignore_errors=True)
    return samples


def _prepare(data: Path, conditions: Conditions) -> None:
    """The same page-cache state for every command: dirty pages written back, then the input
    either read once (warm) or everything evicted (cold)."""
    settle(drop=conditions.cold)
    if not conditions.cold:
        run_quietly([sys.executable, HASHING_SCRIPT, str(data)], cwd=CACHE)


def _hash_bound(item: Input, conditions: Conditions) -> float:
    _prepare(item.path, conditions)
    result = measure(
        [sys.executable, HASHING_SCRIPT, str(item.path)], cwd=CACHE, log=LOGS / "hash.log"
    )
    report = json.loads(result.stdout)
    if report["bytes"] != item.size:
        raise RuntimeError(f"hashed {report['bytes']} bytes of {item.path}, not {item.size}")
    return float(report["seconds"])


def _first_and_readd(
    item: Input, tool: Tool, rep: int, conditions: Conditions, samples: Samples
) -> None:
    workspace = WORK / f"{tool.name.lower()}-{item.key}-{rep}"
    workspace.mkdir(parents=True)
    try:
        data = tool.create(item, workspace)
        env = tool.env(workspace)
        argv = tool.add_argv(item, data)
        log = LOGS / f"{tool.name.lower()}-{item.key}-{rep}"
        _prepare(data, conditions)
        first = measure(argv, cwd=workspace, env=env, log=log.with_suffix(".first.log"))
        tool.check_first(item, workspace, first)
        _prepare(data, conditions)
        again = measure(argv, cwd=workspace, env=env, log=log.with_suffix(".readd.log"))
        tool.check_unchanged(item, workspace, again)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)  # it holds a copy of the input
    for what, result in (("first_add", first), ("readd", again)):
        samples.add(item.key, tool.name, what, result.seconds)
        samples.add(item.key, tool.name, f"{what}_cpu", result.cpu_seconds)
        samples.add(item.key, tool.name, f"{what}_rss", result.peak_rss_mb)
    print(
        f"  rep {rep + 1}: {tool.name:5} first add {_line(first)}   re-add {_line(again)}",
        flush=True,
    )


def _line(result: Measured) -> str:
    return (
        f"{result.seconds:6.2f} s (cpu {result.cpu_seconds:5.2f} s, {result.peak_rss_mb:3.0f} MB)"
    )
