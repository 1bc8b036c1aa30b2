"""A stage's checks, run against the candidate version on the stage's endpoint.

Requests go to the stage's endpoint with the ``gyre-model-version`` header naming the
candidate, so a production stage checks the candidate (loaded there as the shadow) before any
client's request is answered by it. Each check returns a :class:`CheckResult`; none raises
for a failing model, only for a definition that cannot run (a missing pytest folder).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from gyre.registry import models as registry
from gyre.releases.spec import Check

if TYPE_CHECKING:
    from gyre.store import Store

VERSION_HEADER = "gyre-model-version"
PYTEST_TIMEOUT_S = 600.0


@dataclass
class CheckResult:
    label: str
    passed: bool
    detail: str
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Candidate:
    """What a check checks: a model version served at ``url``."""

    store: Store
    model: str
    version: int
    url: str
    folder: Path  # the release definition's folder (pytest paths are relative to it)
    production_endpoint: str | None = None  # what clients use (champion, replay source)


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def run_check(check: Check, candidate: Candidate) -> CheckResult:
    started = time.perf_counter()
    from gyre.releases import comparisons

    runners: dict[str, Callable[[dict[str, Any], Candidate], CheckResult]] = {
        **RUNNERS,
        "champion_challenger": comparisons.champion_challenger,
        "replay": comparisons.replay,
    }
    runner = runners[check.kind]
    try:
        result = runner(check.settings, candidate)
    except httpx.HTTPError as exc:
        result = CheckResult(check.label, False, f"the endpoint did not answer: {exc}")
    result.label = check.label
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _metric(settings: dict[str, Any], candidate: Candidate) -> CheckResult:
    name = settings["name"]
    record = registry.get(candidate.store, f"{candidate.model}@{candidate.version}")
    value = (record.metrics or {}).get(name)
    if value is None:
        have = ", ".join(sorted(record.metrics or {})) or "none"
        return CheckResult("", False, f"{record.ref} has no metric {name!r} (its metrics: {have})")
    low, high = settings.get("min"), settings.get("max")
    ok = (low is None or value >= low) and (high is None or value <= high)
    bounds = " and ".join(
        f"{word} {bound}"
        for word, bound in (("at least", low), ("at most", high))
        if bound is not None
    )
    verdict = "within" if ok else "outside"
    return CheckResult(
        "", ok, f"{name} = {value:g}, {verdict} the gate ({bounds})", figures={name: value}
    )


def _probe(settings: dict[str, Any], candidate: Candidate) -> CheckResult:
    headers = {VERSION_HEADER: str(candidate.version), **settings.get("headers", {})}
    answer = httpx.post(
        f"{candidate.url}{settings['path']}", json=settings["body"], headers=headers, timeout=60
    )
    expected_status = int(settings.get("status", 200))
    if answer.status_code != expected_status:
        return CheckResult(
            "",
            False,
            f"POST {settings['path']} answered {answer.status_code}, expected "
            f"{expected_status}: {answer.text[:300]}",
        )
    answered_by = answer.headers.get(VERSION_HEADER)
    if answer.status_code == 200 and answered_by != str(candidate.version):
        return CheckResult(
            "", False, f"version {answered_by} answered, not the candidate {candidate.version}"
        )
    if "predictions" in settings:
        got = answer.json().get("predictions")
        if got != settings["predictions"]:
            return CheckResult(
                "", False, f"predictions {got!r}, expected {settings['predictions']!r}"
            )
    return CheckResult("", True, f"POST {settings['path']}: {answer.status_code} as expected")


def _pytest(settings: dict[str, Any], candidate: Candidate) -> CheckResult:
    folder = candidate.folder / settings["path"]
    if not folder.exists():
        return CheckResult(
            "",
            False,
            f"{folder} does not exist (pytest paths are relative to the folder release.yaml "
            "was applied from)",
        )
    env = {
        **os.environ,
        "GYRE_ENDPOINT_URL": candidate.url,
        "GYRE_MODEL": candidate.model,
        "GYRE_MODEL_VERSION": str(candidate.version),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
            check=False,
            cwd=candidate.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=float(settings.get("timeout", PYTEST_TIMEOUT_S)),
        )
    except subprocess.TimeoutExpired:
        return CheckResult("", False, f"pytest {settings['path']} ran past its timeout")
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode == 5:
        return CheckResult("", False, f"pytest found no tests in {settings['path']}: {summary}")
    tail = "" if done.returncode == 0 else "\n" + done.stdout[-1500:]
    return CheckResult("", done.returncode == 0, f"pytest {settings['path']}: {summary}{tail}")


def _latency(settings: dict[str, Any], candidate: Candidate) -> CheckResult:
    requests = int(settings.get("requests", 200))
    concurrency = int(settings.get("concurrency", 8))
    path = settings.get("path", "/score")
    budget = float(settings["p99_ms"])
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    remaining = [requests]

    def client() -> None:
        nonlocal failures
        with httpx.Client(timeout=30, headers={VERSION_HEADER: str(candidate.version)}) as session:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                try:
                    ok = session.post(f"{candidate.url}{path}", json=settings["body"]).is_success
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    failures += not ok

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    ok = failures == 0 and p99 <= budget
    detail = (
        f"p99 {p99:.1f} ms (budget {budget:g} ms), p50 {p50:.1f} ms over {requests} requests "
        f"at concurrency {concurrency}, {failures} failed"
    )
    return CheckResult("", ok, detail, figures={"p50_ms": p50, "p99_ms": p99, "failed": failures})


RUNNERS: dict[str, Any] = {
    "metric": _metric,
    "probe": _probe,
    "pytest": _pytest,
    "latency": _latency,
}
