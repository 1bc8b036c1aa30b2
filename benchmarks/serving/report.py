"""Medians as a readable table (and as Markdown for the README), then the one-line JSON summary.

Ratios are oriented so that > 1 means gyre is ahead: ``throughput_*`` = gyre requests/s ÷ the
best peer's, ``p99_*`` = the best peer's p99 ÷ gyre's. The best peer for p99 is the lowest p99
among peers whose errors stayed under 1% of their requests (a peer failing fast must not set
the bar). Suffix ``_batch100``: 100-row requests.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import Any

from suite import Plan, Results

THROUGHPUT_TARGET = 2.0  # at c8 and c64
THROUGHPUT_TARGET_LEVELS = (8, 64)
P99_TARGET = 1.0
COLLECTOR_TARGET = 0.10
MAX_PEER_ERROR_RATE = 0.01


@dataclass(frozen=True)
class Cell:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # summed over repetitions
    requests: int

    @property
    def clean(self) -> bool:
        return self.errors <= MAX_PEER_ERROR_RATE * max(1, self.requests)


def suffix(rows: int) -> str:
    return "" if rows == 1 else f"_batch{rows}"


def cells(results: Results) -> dict[tuple[str, str, int, int], Cell]:
    out = {}
    for key, samples in results.samples.items():
        out[key] = Cell(
            rps=statistics.median(s.rps for s in samples),
            p50_ms=statistics.median(s.p50_ms for s in samples),
            p99_ms=statistics.median(s.p99_ms for s in samples),
            errors=sum(s.errors for s in samples),
            requests=sum(s.requests for s in samples),
        )
    return out


def _peers(
    table: dict[tuple[str, str, int, int], Cell], model: str, rows: int, c: int
) -> dict[str, Cell]:
    return {
        tool: cell
        for (tool, m, r, conc), cell in table.items()
        if m == model and r == rows and conc == c and not tool.startswith("gyre")
    }


def figures(results: Results, plan: Plan, models: list[str]) -> dict[str, Any]:
    table = cells(results)
    fig: dict[str, Any] = {}
    for (tool, model, rows, c), cell in sorted(table.items()):
        name = f"{tool}_{model}_c{c}{suffix(rows)}"
        fig[f"{name}_rps"] = round(cell.rps, 1)
        fig[f"{name}_p50_ms"] = round(cell.p50_ms, 3)
        fig[f"{name}_p99_ms"] = round(cell.p99_ms, 3)
        fig[f"{name}_errors"] = cell.errors
    overheads = []
    for model in models:
        for rows in plan.row_counts:
            on = results.overhead_samples.get(("gyre", model, rows), [])
            off = results.overhead_samples.get(("gyre_nocollect", model, rows), [])
            off_rps = statistics.median(s.rps for s in off) if off else 0.0
            if on and off_rps:
                overhead = round(1 - statistics.median(s.rps for s in on) / off_rps, 3)
                fig[f"collector_overhead_{model}{suffix(rows)}"] = overhead
                overheads.append(overhead)
                # each pair's own overhead, in the order the pairs ran
                runs = [round(1 - a.rps / b.rps, 3) for a, b in zip(on, off, strict=False) if b.rps]
                if len(runs) > 1:
                    fig[f"collector_overhead_runs_{model}{suffix(rows)}"] = runs
    fig["collector_overhead"] = max(overheads) if overheads else None
    lost = 0
    for model, check in sorted(results.collector.items()):
        fig[f"{model}_rows_answered"] = check.answered_rows
        fig[f"{model}_rows_in_flight_bound"] = check.in_flight_rows
        fig[f"{model}_rows_collected"] = check.collected_rows
        fig[f"{model}_rows_lost"] = check.lost
        fig[f"{model}_rows_unexplained"] = max(
            0, check.collected_rows - check.answered_rows - check.in_flight_rows
        )
        fig[f"{model}_collector_catch_up_max_s"] = round(max(check.catch_up_s, default=0.0), 2)
        lost += check.lost
    fig["rows_lost"] = lost
    fig["gyre_errors"] = sum(
        cell.errors for (tool, *_), cell in table.items() if tool.startswith("gyre")
    )
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in fig.items()}


def best_peers(results: Results, plan: Plan, models: list[str]) -> dict[str, str]:
    """Per ratio name, the peer it was measured against: the fastest for throughput, the
    lowest clean p99 for p99."""
    table = cells(results)
    out = {}
    for model in models:
        for rows in plan.row_counts:
            for c in plan.concurrencies:
                peers = _peers(table, model, rows, c)
                name = f"c{c}_{model}{suffix(rows)}"
                if peers:
                    fastest = max(peers, key=lambda k: peers[k].rps)
                    out[f"throughput_{name}"] = results.labels.get(fastest, fastest)
                clean = {k: p for k, p in peers.items() if p.clean and p.p99_ms == p.p99_ms}
                if clean:
                    lowest = min(clean, key=lambda k: clean[k].p99_ms)
                    out[f"p99_{name}"] = results.labels.get(lowest, lowest)
    return out


def ratios(results: Results, plan: Plan, models: list[str]) -> dict[str, float | None]:
    table = cells(results)
    out: dict[str, float | None] = {}
    for model in models:
        for rows in plan.row_counts:
            for c in plan.concurrencies:
                name = f"c{c}_{model}{suffix(rows)}"
                gyre = table.get(("gyre", model, rows, c))
                peers = _peers(table, model, rows, c)
                best_rps = max((p.rps for p in peers.values()), default=0.0)
                clean_p99 = [p.p99_ms for p in peers.values() if p.clean and p.p99_ms == p.p99_ms]
                out[f"throughput_{name}"] = (
                    round(gyre.rps / best_rps, 2) if gyre and best_rps else None
                )
                out[f"p99_{name}"] = (
                    round(min(clean_p99) / gyre.p99_ms, 2)
                    if gyre and clean_p99 and gyre.p99_ms > 0
                    else None
                )
    return out


def _verdict(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if name.startswith("throughput_"):
        level = int(name.split("_")[1][1:])
        if level not in THROUGHPUT_TARGET_LEVELS:
            return "(no target)"
        return _met(value >= THROUGHPUT_TARGET, f">= {THROUGHPUT_TARGET:g}")
    return _met(value >= P99_TARGET, f">= {P99_TARGET:g}")


def _met(ok: bool, target: str) -> str:
    return f"target {target:6} {'met' if ok else 'MISSED'}"


def print_table(
    results: Results,
    plan: Plan,
    models: list[str],
    rat: dict[str, float | None],
    fig: dict[str, Any],
    header: str,
) -> None:
    table = cells(results)
    print(f"\n{header}")
    print(
        f"\n{'model':7} {'rows':>4} {'conc':>4}  {'tool':30} {'req/s':>9} {'p50 ms':>9} "
        f"{'p99 ms':>9} {'errors':>7}"
    )
    for model in models:
        for rows in plan.row_counts:
            for c in plan.concurrencies:
                for key, label in results.labels.items():
                    cell = table.get((key, model, rows, c))
                    if cell is None:
                        continue
                    print(
                        f"{model:7} {rows:>4} {c:>4}  {label:30} {cell.rps:9.1f} "
                        f"{cell.p50_ms:9.2f} {cell.p99_ms:9.2f} {cell.errors:7}"
                    )
            print()
    for (tool, model), why in sorted(results.failures.items()):
        print(f"{results.labels.get(tool, tool)} with {model}: not measured ({why[:200]})")
    print("ratios (> 1: gyre ahead), against the issue's targets, and the best peer:")
    against = best_peers(results, plan, models)
    for name, value in rat.items():
        shown = "   n/a" if value is None else f"{value:6.2f}"
        print(f"  {name:34} {shown}   {_verdict(name, value):24} {against.get(name, '')}")
    overhead = fig.get("collector_overhead")
    for name, runs in fig.items():
        if name.startswith("collector_overhead_runs_"):
            shown = ", ".join(f"{r:.3f}" for r in runs)
            print(f"  {name.replace('_runs', ''):34} runs: {shown}")
    if overhead is not None:
        print(
            f"  {'collector_overhead':34} {overhead:6.3f}   target < {COLLECTOR_TARGET:g}   "
            f"{'met' if overhead < COLLECTOR_TARGET else 'MISSED'}"
        )
    print(
        f"  {'rows_lost':34} {fig['rows_lost']:6}   target 0        "
        f"{'met' if fig['rows_lost'] == 0 else 'MISSED'}"
    )
    print(
        f"  {'gyre_errors':34} {fig['gyre_errors']:6}   target 0        "
        f"{'met' if fig['gyre_errors'] == 0 else 'MISSED'}"
    )
    for model, check in sorted(results.collector.items()):
        print(
            f"  {model}: rows answered (wrk and checks) {check.answered_rows}, in "
            f"{model}-inference {check.collected_rows} (up to {check.in_flight_rows} more "
            f"may be requests wrk abandoned at its deadline); gyre exit "
            f"{check.exit_code}; collector caught up within "
            f"{max(check.catch_up_s, default=0.0):.1f} s of each load"
        )


def markdown(results: Results, plan: Plan, models: list[str], rat: dict[str, float | None]) -> str:
    """One row per model, rows per request and concurrency; a cell per tool:
    ``requests/s (p50 / p99 ms)``, and the errors when there were any."""
    table = cells(results)
    labels = results.labels
    against = best_peers(results, plan, models)
    head = ["model", "rows", "conc", *labels.values(), "throughput ratio", "p99 ratio"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---:|" + "---:|" * (len(head) - 3)]
    for model in models:
        for rows in plan.row_counts:
            for c in plan.concurrencies:
                row = [model, str(rows), str(c)]
                for key in labels:
                    cell = table.get((key, model, rows, c))
                    text = (
                        ""
                        if cell is None
                        else (f"{cell.rps:,.0f} ({cell.p50_ms:.1f} / {cell.p99_ms:.1f})")
                    )
                    if cell is not None and cell.errors:
                        text += f" {cell.errors} errors"
                    if cell is None and (key, model) in results.failures:
                        text = "not measured"
                    row.append(text)
                for kind in ("throughput", "p99"):
                    name = f"{kind}_c{c}_{model}{suffix(rows)}"
                    value = rat.get(name)
                    peer = against.get(name, "").split(" ")[0]  # the tool, without its version
                    row.append("" if value is None else f"{value:.2f} ({peer})")
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def summary(fig: dict[str, Any], rat: dict[str, float | None]) -> str:
    return json.dumps({"benchmark": "serving", "figures": fig, "ratios": rat})


def describe(plan: Plan, load: tuple[float, float], minutes: float, revision: str) -> str:
    return (
        f"gyre at {revision}; wrk, 1 thread, keep-alive, {plan.seconds:g} s per measurement, "
        f"{'median of ' + str(plan.reps) + ' runs' if plan.reps > 1 else '1 run'} per cell; "
        "requests/s counts 2xx answers; errors = non-2xx + socket errors (connect, read, "
        f"write, timeout > 10 s); 1-minute load average {load[0]:.1f} before, {load[1]:.1f} "
        f"after (2 cores); the run took {minutes:.1f} min"
    )
