"""The readable table and the closing JSON line (figures and gyre-vs-peer ratios)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from peers import BY_NAME
from pipeline_runs import ToolResult
from tracking import TrackingResult
from workloads import WORKLOADS

FIGURES = (
    ("first_run_s", "first_s"),
    ("reuse_s", "reuse_s"),
    ("step_overhead_s", "step_overhead_s"),
    ("max_rss_mb", "max_rss_mb"),
    ("tree_rss_mb", "tree_rss_mb"),
)


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _best_peer(results: Sequence[ToolResult], attr: str) -> ToolResult | None:
    candidates = [r for r in results if r.tool != "gyre" and BY_NAME[r.tool].compared and r.ok]
    return min(candidates, key=lambda r: getattr(r, attr), default=None)


def _ratio(peer: float | None, gyre: float | None) -> float | None:
    if peer is None or gyre is None or gyre <= 0:
        return None
    return round(peer / gyre, 3)


def pipeline_table(results: Sequence[ToolResult]) -> list[str]:
    lines: list[str] = []
    notes: list[str] = []
    for workload in WORKLOADS:
        rows = [r for r in results if r.workload == workload]
        if not rows:
            continue
        reps = max((r.reps for r in rows), default=0)
        lines.append("")
        lines.append(f"Pipelines, {workload.title} (median of {reps} runs, fresh process each)")
        header = (
            f"{'tool':<9} {'first run s':>11} {'re-run s':>9} {'overhead/step s':>15} "
            f"{'max RSS MB':>10} {'tree RSS MB':>11}  re-run reuses by"
        )
        lines.append(header)
        lines.append("-" * len(header))
        for r in rows:
            marks = ""
            for note in r.notes:
                notes.append(f"[{len(notes) + 1}] {r.tool}, {workload.name}: {note}")
                marks += f" [{len(notes)}]"
            lines.append(
                f"{r.tool:<9} {_fmt(r.first_s):>11} {_fmt(r.reuse_s):>9} "
                f"{_fmt(r.step_overhead_s, 3):>15} {_fmt(r.max_rss_mb, 0):>10} "
                f"{_fmt(r.tree_rss_mb, 0):>11}  {BY_NAME[r.tool].reuse}{marks}"
            )
    commands = sum(r.commands for r in results)
    lines.append("")
    leftover = any("left" in note for note in notes)
    lines.append(
        f"Left-over processes after the {commands} commands (set-up, warm-up, timed runs): "
        + ("see the notes." if leftover else "none.")
    )
    lines.extend(notes)
    return lines


def tracking_table(tracking: TrackingResult | None) -> list[str]:
    if tracking is None:
        return []
    lines = ["", f"Tracking (median of {tracking.reps} runs, fresh process each)"]
    header = f"{'measurement':<46} {'gyre s':>9} {'MLflow s':>9}"
    lines += [header, "-" * len(header)]
    rows = (
        (
            "10,000 log_metric calls, SQLite, incl. flush",
            "log_metric_10k_gyre_s",
            "log_metric_10k_mlflow_s",
        ),
        ("1,000,000 points, SQLite", "million_points_sqlite_s", None),
        ("1,000,000 points, PostgreSQL", "million_points_postgres_s", None),
        (
            "read a 100,000-point history, SQLite",
            "metric_history_100k_gyre_s",
            "metric_history_100k_mlflow_s",
        ),
    )
    for title, gyre_key, mlflow_key in rows:
        gyre = tracking.figures.get(gyre_key)
        mlflow = tracking.figures.get(mlflow_key) if mlflow_key else None
        lines.append(f"{title:<46} {_fmt(gyre, 3):>9} {_fmt(mlflow, 3):>9}")
    lines.extend(f"note: {note}" for note in tracking.notes)
    return lines


def figures_and_ratios(
    results: Sequence[ToolResult], tracking: TrackingResult | None
) -> tuple[dict[str, float], dict[str, float | None], dict[str, str]]:
    """Every median as a figure; the ratios; and which peer each pipeline ratio is against."""
    figures: dict[str, float] = {}
    for r in results:
        for name, attr in FIGURES:
            value = getattr(r, attr)
            if value is not None:
                figures[f"{r.tool}_{r.workload.name}_{name}"] = round(value, 4)
    ratios: dict[str, float | None] = {}
    best_peers: dict[str, str] = {}
    for workload, suffix in zip(WORKLOADS, ("", "_cpu"), strict=True):
        rows = [r for r in results if r.workload == workload]
        gyre = next((r for r in rows if r.tool == "gyre" and r.ok), None)
        for ratio, attr in (
            ("first_run_vs_best_peer", "first_s"),
            ("reuse_vs_best_peer", "reuse_s"),
        ):
            best = _best_peer(rows, attr)
            if best is None or gyre is None:
                continue
            ratios[ratio + suffix] = _ratio(getattr(best, attr), getattr(gyre, attr))
            best_peers[ratio + suffix] = best.tool
    if tracking is not None:
        figures.update({k: round(v, 4) for k, v in tracking.figures.items()})
        f = tracking.figures
        if "log_metric_10k_mlflow_s" in f and "log_metric_10k_gyre_s" in f:
            ratios["log_metric_vs_mlflow"] = _ratio(
                f["log_metric_10k_mlflow_s"], f["log_metric_10k_gyre_s"]
            )
        if "metric_history_100k_mlflow_s" in f and "metric_history_100k_gyre_s" in f:
            ratios["metric_history_vs_mlflow"] = _ratio(
                f["metric_history_100k_mlflow_s"], f["metric_history_100k_gyre_s"]
            )
    return figures, ratios, best_peers


def ratio_lines(ratios: dict[str, float | None], best_peers: dict[str, str]) -> list[str]:
    lines = ["", "Ratios (> 1: gyre is ahead; peer time / gyre time)"]
    for name, value in ratios.items():
        peer = best_peers.get(name)
        against = f"  (best peer: {peer})" if peer else ""
        lines.append(f"  {name:<30} {_fmt(value, 2):>8}{against}")
    return lines


def json_line(figures: dict[str, float], ratios: dict[str, float | None]) -> str:
    return json.dumps({"benchmark": "pipelines", "figures": figures, "ratios": ratios})
