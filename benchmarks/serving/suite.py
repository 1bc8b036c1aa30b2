"""One model at a time: start every server, check its answers, then load them in turn.

All servers of a model are up together and the tools take turns at each load level (the order
rotates from one level to the next), so a slow minute on this shared machine hits every tool
alike; while one is under load the others are paused (SIGSTOP; PyTriton excepted, see
``_others``), so that no idle server's background work takes CPU from it. Before the next turn, gyre's collector must have converted what it journaled, so its
background work never falls into a peer's measurement. At the end every server is stopped
with SIGTERM; gyre's inference dataset is then counted against the answers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import gyre_tool
from gyre_tool import Gyre, GyreWorkspace
from load import LoadResult, run_wrk
from procs import Server, ServerFailed, paused, stop_all
from tools import Tool
from workload import Workload

NOCOLLECT_CONCURRENCY = 8  # where gyre --no-collect runs, for the collector's overhead
# The collector's overhead is a median over at least this many pairs of loads (gyre, then
# gyre --no-collect, or the other way round), whatever --reps says: one pair on a shared
# 2-core machine varies by more than the 10% the overhead is held to.
COLLECTOR_PAIRS = 3
WARMUP_CONCURRENCY = 8


@dataclass(frozen=True)
class Plan:
    concurrencies: tuple[int, ...]
    row_counts: tuple[int, ...]
    seconds: float
    reps: int
    warmup_s: float

    def cases(self) -> list[tuple[int, int]]:
        """(rows per request, concurrency), in the order they run."""
        return [(rows, c) for rows in self.row_counts for c in self.concurrencies]


@dataclass
class CollectorCheck:
    answered_rows: int = 0  # 2xx rows as the clients counted them (wrk, and the checks)
    in_flight_rows: int = 0  # at most this many more may be collected but not counted (below)
    collected_rows: int = 0  # rows in NAME-inference after SIGTERM
    exit_code: int | None = None
    catch_up_s: list[float] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return max(0, self.answered_rows - self.collected_rows)


@dataclass
class Results:
    samples: dict[tuple[str, str, int, int], list[LoadResult]] = field(
        default_factory=lambda: defaultdict(list)
    )
    collector: dict[str, CollectorCheck] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    # (tool, model, rows) -> gyre and gyre_nocollect at NOCOLLECT_CONCURRENCY: the loads of
    # the table and the extra pairs, for the collector's overhead only
    overhead_samples: dict[tuple[str, str, int], list[LoadResult]] = field(
        default_factory=lambda: defaultdict(list)
    )


def run_model(
    workload: Workload,
    tools: list[Tool],
    workspace: GyreWorkspace,
    plan: Plan,
    wrk: str,
    work: Path,
    results: Results,
) -> None:
    check = results.collector.setdefault(workload.name, CollectorCheck())
    bodies = _write_bodies(workload, tools, plan, work)
    servers: dict[str, Server] = {}
    try:
        for tool in tools:
            server = _start(tool, workload, work, results, check)
            if server is None:
                continue
            servers[tool.key] = server
            url = server.url(tool.score_path(workload))
            warm = bodies[(tool.key, 1)]
            warmup = run_wrk(wrk, url, warm, WARMUP_CONCURRENCY, plan.warmup_s)
            _account(tool, server, check, warmup, 1, WARMUP_CONCURRENCY)
        active = [t for t in tools if t.key in servers]
        for rep in range(plan.reps if active else 0):
            for index, (rows, concurrency) in enumerate(plan.cases()):
                turn = index + rep
                order = active[turn % len(active) :] + active[: turn % len(active)]
                for tool in order:
                    if tool.key == "gyre_nocollect" and concurrency != NOCOLLECT_CONCURRENCY:
                        continue
                    server = servers[tool.key]
                    body = bodies[(tool.key, rows)]
                    url = server.url(tool.score_path(workload))
                    with paused(_others(tools, servers, tool)):
                        result = run_wrk(wrk, url, body, concurrency, plan.seconds)
                    _account(tool, server, check, result, rows, concurrency)
                    results.samples[(tool.key, workload.name, rows, concurrency)].append(result)
                    if concurrency == NOCOLLECT_CONCURRENCY and tool.key.startswith("gyre"):
                        results.overhead_samples[(tool.key, workload.name, rows)].append(result)
                    _print(tool, workload, rows, concurrency, result)
        _more_collector_pairs(workload, active, servers, bodies, plan, wrk, check, results)
    finally:
        collecting = servers.get("gyre")
        stop_all(list(servers.values()))
        if collecting is not None:
            check.exit_code = collecting.process.returncode
            check.collected_rows = workspace.collected_rows(workload)


def _others(tools: list[Tool], servers: dict[str, Server], busy: Tool) -> list[Server]:
    """The servers to pause while ``busy`` is under load: every other one that survives a
    pause (PyTriton does not: Triton's Python backend, stopped and continued, crashes on its
    next request, a boost::interprocess lock_exception, then SIGSEGV; idle, it uses next to
    no CPU)."""
    return [
        servers[t.key]
        for t in tools
        if t.key in servers and t.key != busy.key and getattr(t, "pausable", True)
    ]


def _more_collector_pairs(
    workload: Workload,
    active: list[Tool],
    servers: dict[str, Server],
    bodies: dict[tuple[str, int], Path],
    plan: Plan,
    wrk: str,
    check: CollectorCheck,
    results: Results,
) -> None:
    """Pairs of loads on gyre with and without its collector, one right after the other, until
    there are ``COLLECTOR_PAIRS`` of them (the table's own loads count)."""
    pair = [t for t in active if t.key in ("gyre", "gyre_nocollect")]
    if len(pair) != 2 or NOCOLLECT_CONCURRENCY not in plan.concurrencies:
        return
    for extra in range(max(0, COLLECTOR_PAIRS - plan.reps)):
        for rows in plan.row_counts:
            for tool in pair if extra % 2 else pair[::-1]:
                server = servers[tool.key]
                url = server.url(tool.score_path(workload))
                body = bodies[(tool.key, rows)]
                with paused(_others(active, servers, tool)):
                    result = run_wrk(wrk, url, body, NOCOLLECT_CONCURRENCY, plan.seconds)
                _account(tool, server, check, result, rows, NOCOLLECT_CONCURRENCY)
                results.overhead_samples[(tool.key, workload.name, rows)].append(result)
                _print(tool, workload, rows, NOCOLLECT_CONCURRENCY, result, "(overhead pair)")


def _account(
    tool: Tool, server: Server, check: CollectorCheck, result: LoadResult, rows: int, c: int
) -> None:
    """After a load on gyre with its collector on: count the rows wrk saw answered, then wait
    until the collector has converted everything it journaled.

    wrk stops at its deadline with up to ``c`` requests in flight; gyre still scores and
    journals those, but nobody counts their answers, so the dataset may hold up to ``c * rows``
    rows more than wrk counted (``in_flight_rows``); fewer rows than counted is a loss."""
    if not (isinstance(tool, Gyre) and tool.collect):
        return
    check.answered_rows += result.answered * rows
    check.in_flight_rows += c * rows
    check.catch_up_s.append(gyre_tool.wait_converted(server))


def _start(
    tool: Tool, workload: Workload, work: Path, results: Results, check: CollectorCheck
) -> Server | None:
    """Start the tool's server and check its answers; None (and why, in results) if it fails."""
    print(f"  starting {tool.label} with {workload.name} ...", flush=True)
    server = tool.start(workload, work)
    try:
        seconds = server.wait_ready(tool.ready_path(workload))
        for count in (1, len(workload.rows)):
            answer = server.post(tool.score_path(workload), tool.body(workload.request(count)))
            if isinstance(tool, Gyre) and tool.collect:
                check.answered_rows += count
            got = [int(p) for p in tool.predictions(answer)]
            if got != workload.expected[:count]:
                raise ServerFailed(
                    f"{tool.label} predicted {got[:10]}... for {count} rows; the model itself "
                    f"predicts {workload.expected[:10]}..."
                )
    except (ServerFailed, KeyError, TypeError, ValueError) as exc:
        results.failures[(tool.key, workload.name)] = f"{type(exc).__name__}: {exc}"
        print(f"  {tool.label} fails with {workload.name}: {exc}", flush=True)
        stop_all([server])
        return None
    print(f"  {tool.label} ready in {seconds:.1f} s; answers match the model", flush=True)
    return server


def _write_bodies(
    workload: Workload, tools: list[Tool], plan: Plan, work: Path
) -> dict[tuple[str, int], Path]:
    folder = work / "bodies"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for tool in tools:
        for rows in sorted({1, *plan.row_counts}):
            path = folder / f"{tool.key}-{workload.name}-{rows}.json"
            path.write_bytes(tool.body(workload.request(rows)))
            out[(tool.key, rows)] = path
    return out


def _print(
    tool: Tool, workload: Workload, rows: int, concurrency: int, r: LoadResult, note: str = ""
) -> None:
    print(
        f"    {workload.name:6} rows={rows:<3} c={concurrency:<3} {tool.label:28} "
        f"{r.rps:9.1f} req/s  p50 {r.p50_ms:8.2f} ms  p99 {r.p99_ms:8.2f} ms  "
        f"errors {r.errors} {note}".rstrip(),
        flush=True,
    )
