"""Monitoring benchmark: drift detection by gyre (``gyre.drift``) against Evidently
(``DataDriftPreset``), alibi-detect (``TabularDrift``) and a plain scipy loop, on 25 generated
columns with drift injected into 5, at 100k and 1M rows; and a 720-hour backfill with gyre's
``Baseline``. See README.md beside this file.

    .venv/bin/python benchmarks/monitoring/run.py [--reps 3] [--quick] [--only gyre,scipy]

Prints a table, then as its last line one JSON object:
``{"benchmark": "monitoring", "figures": {...}, "ratios": {...}}`` (ratios > 1: gyre ahead).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import data  # noqa: E402
import venvs  # noqa: E402

TOOLS = ("gyre", "scipy", "alibi-detect", "evidently")
SCRIPTS = {
    "gyre": HERE / "gyre_side.py",
    "scipy": HERE / "peers" / "scipy_side.py",
    "alibi-detect": HERE / "peers" / "alibi_detect_side.py",
    "evidently": HERE / "peers" / "evidently_side.py",
}
KEYS = {"gyre": "gyre", "scipy": "scipy", "alibi-detect": "alibi", "evidently": "evidently"}
CHILD_TIMEOUT_S = 1200


class Failed(Exception):
    """A measured process failed; the message says how and where its log is."""


def child(argv: list[str], log: Path) -> dict[str, Any]:
    """Run one measured process; its last stdout line, parsed. stderr goes to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as err:
        try:
            done = subprocess.run(
                argv,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                timeout=CHILD_TIMEOUT_S,
                check=False,
                cwd=venvs.REPO,
            )
        except subprocess.TimeoutExpired as exc:
            raise Failed(f"ran past {CHILD_TIMEOUT_S} s (see {log})") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise Failed(f"exited with {done.returncode}: {tail[0][:300]} (see {log})")
    return dict(json.loads(lines[-1]))


def python_of(tool: str) -> Path:
    if tool in ("gyre", "scipy"):
        return Path(sys.executable)
    return venvs.python_for(tool)


def score(found: list[str]) -> tuple[int, int, list[str], list[str]]:
    """(true positives, false positives, missed columns, falsely found columns)."""
    truth = set(data.DRIFTED)
    hits = sorted(truth & set(found))
    false = sorted(set(found) - truth)
    return len(hits), len(false), sorted(truth - set(found)), false


def measure(
    tool: str, size: str, files: tuple[Path, Path], reps: int, logs: Path
) -> dict[str, Any]:
    argv = [str(python_of(tool)), str(SCRIPTS[tool]), str(files[0]), str(files[1])]
    result = child([*argv, "--reps", str(reps)], logs / f"{tool}-{size}.log")
    result["median_s"] = statistics.median(result["seconds"])
    result["peak_max_mb"] = max(result["peak_mb"])
    tp, fp, missed, false = score(result["found"])
    result.update(tp=tp, fp=fp, missed=missed, false=false)
    times = ", ".join(f"{s:.3g}" for s in result["seconds"])
    print(
        f"  {tool} {size}: median {result['median_s']:.3g} s ({times}), "
        f"peak +{result['peak_max_mb']:.0f} MB, found {' '.join(result['found']) or '-'} "
        f"(TP {tp}, FP {fp})",
        flush=True,
    )
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the fast tools")
    parser.add_argument(
        "--quick", action="store_true", help="skip Evidently at 1M rows (over 2 minutes)"
    )
    parser.add_argument("--only", default=",".join(TOOLS), help="comma-separated tools")
    parser.add_argument("--sizes", default=",".join(data.SIZES), help="comma-separated sizes")
    parser.add_argument("--hours", type=int, default=720, help="backfill windows (0: none)")
    args = parser.parse_args(argv)
    tools = [t for t in TOOLS if t in args.only.split(",")]
    sizes = [s for s in data.SIZES if s in args.sizes.split(",")]
    started = time.perf_counter()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    print(
        f"monitoring benchmark at {commit}: {args.reps} reps, sizes {', '.join(sizes)}, "
        f"tools {', '.join(tools)}{', quick' if args.quick else ''}",
        flush=True,
    )
    notes: list[str] = []
    for tool in tools:  # installed before anything is timed
        if tool in venvs.TOOLS:
            try:
                venvs.python_for(tool)
            except venvs.Unavailable as exc:
                notes.append(f"{tool} not measured: {exc}")
    tools = [t for t in tools if not any(n.startswith(f"{t} not measured") for n in notes)]
    generated = time.perf_counter()
    files = data.write(venvs.CACHE / "data")
    print(f"data in {venvs.CACHE / 'data'} ({time.perf_counter() - generated:.1f} s)", flush=True)
    logs = venvs.CACHE / "logs"
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for size in sizes:
        for tool in tools:
            reps = args.reps
            if tool == "evidently" and size == "1m":
                if args.quick:
                    notes.append("Evidently at 1M rows skipped (--quick)")
                    continue
                reps = 1  # over 2 minutes a run: once
            try:
                results[tool, size] = measure(tool, size, files[size], reps, logs)
            except Failed as exc:
                notes.append(f"{tool} at {size} failed: {exc}")
                print(f"  {tool} {size}: FAILED {exc}", flush=True)
    backfill: dict[str, Any] = {}
    if "gyre" in tools and args.hours and "100k" in data.SIZES:
        print(f"  gyre backfill: {args.hours} windows of 10,000 rows ...", flush=True)
        argv = [sys.executable, str(SCRIPTS["gyre"]), "--backfill", str(files["100k"][0])]
        try:
            backfill = child([*argv, "--hours", str(args.hours)], logs / "gyre-backfill.log")
        except Failed as exc:
            notes.append(f"gyre backfill failed: {exc}")
    report(args, tools, sizes, results, backfill, notes, time.perf_counter() - started)
    return 0


def report(
    args: argparse.Namespace,
    tools: list[str],
    sizes: list[str],
    results: dict[tuple[str, str], dict[str, Any]],
    backfill: dict[str, Any],
    notes: list[str],
    wall_s: float,
) -> None:
    print()
    print(
        "detection time (median of the repetitions; Evidently at 1M: one run), peak memory "
        "added by the detection (the largest of the repetitions), columns found"
    )
    header = f"{'tool':13} {'rows':>5} {'seconds':>9} {'reps':>4} {'peak MB':>8} {'inputs MB':>9}"
    truth = data.DRIFTED
    print(f"{header}  {' '.join(f'{c:>3}' for c in truth)}  {'TP':>2} {'FP':>2}  false positives")
    for size in sizes:
        for tool in tools:
            r = results.get((tool, size))
            if r is None:
                continue
            marks = " ".join(f"{'yes' if c in r['found'] else 'no':>3}" for c in truth)
            print(
                f"{tool:13} {size:>5} {r['median_s']:9.3f} {len(r['seconds']):4d} "
                f"{r['peak_max_mb']:8.0f} {r['rss_inputs_mb']:9.0f}  {marks}  {r['tp']:2d} "
                f"{r['fp']:2d}  {' '.join(r['false']) or '-'}"
            )
    print("ground truth: " + "; ".join(f"{c} {what}" for c, what in data.DRIFTS.items()))
    for size in sizes:
        alibi = results.get(("alibi-detect", size))
        if alibi:
            corrected = score(alibi["notes"]["found_bonferroni"])
            print(
                f"alibi-detect {size}, its per-feature p-values against 0.05 / 25 instead of "
                f"0.05: TP {corrected[0]}, FP {corrected[1]}"
            )
        evidently = results.get(("evidently", size))
        if evidently:
            methods = "; ".join(f"{m}: {c}" for m, c in evidently["notes"]["methods"].items())
            print(f"Evidently {size} methods: {methods}")
        gyre = results.get(("gyre", size))
        if gyre:
            verdict = "drifted" if gyre["notes"]["dataset_drifted"] else "not drifted"
            print(
                f"gyre {size} dataset verdict: {verdict} "
                f"({len(gyre['found'])} of {len(data.COLUMNS)} features, drift_share 0.5)"
            )
    if any(not r["peak_reset"] for r in results.values()):
        notes.append("VmHWM could not be reset here: peaks include the loading")

    figures: dict[str, float] = {}
    ratios: dict[str, float] = {}
    gyre_1m = results.get(("gyre", "1m"))
    for size in sizes:
        gyre = results.get(("gyre", size))
        if gyre:
            figures[f"drift_{size}_s"] = gyre["median_s"]
    if gyre_1m:
        nbytes = gyre_1m["notes"]["arrow_nbytes"] / 2**20
        figures["peak_memory_mb"] = gyre_1m["peak_max_mb"]
        figures["arrow_nbytes_mb"] = nbytes
        figures["peak_memory_ratio"] = gyre_1m["peak_max_mb"] / nbytes
        print(
            f"gyre 1M peak memory: +{gyre_1m['peak_max_mb']:.0f} MB over the loaded tables, "
            f"{figures['peak_memory_ratio']:.2f} x their Arrow nbytes ({nbytes:.0f} MB)"
        )
    if backfill:
        total = backfill["prepare_s"] + backfill["compare_total_s"]
        figures["backfill_720h_s" if backfill["hours"] == 720 else "backfill_s"] = total
        figures["backfill_prepare_s"] = backfill["prepare_s"]
        figures["backfill_compare_median_ms"] = backfill["compare_median_s"] * 1000
        flagged, hours = backfill["windows_flagged"], backfill["hours"]
        onset = backfill["onset_hour"]
        print(
            f"gyre backfill: {hours} windows of {backfill['rows']:,} rows against the 100k "
            f"baseline: {total:.1f} s (prepare {backfill['prepare_s']:.3f} s, compare median "
            f"{figures['backfill_compare_median_ms']:.1f} ms, slowest "
            f"{backfill['compare_max_s'] * 1000:.0f} ms)"
        )
        after = ", ".join(f"{c} {backfill['found_after_onset'].get(c, 0)}" for c in data.DRIFTED)
        print(
            f"  windows with a drifted feature: {flagged['before']} of {onset} before the "
            f"drift (hour {onset}), {flagged['after']} of {hours - onset} after; found after: "
            f"{after}"
        )
    for (tool, size), r in results.items():
        scope = f"_{size}" if tool != "gyre" else ("" if size == "1m" else f"_{size}")
        key = KEYS[tool]
        if tool != "gyre":
            figures[f"{key}_{size}_s"] = r["median_s"]
            figures[f"{key}_peak_memory_{size}_mb"] = r["peak_max_mb"]
            figures[f"{key}_true_positives{scope}"] = r["tp"]
            figures[f"{key}_false_positives{scope}"] = r["fp"]
        else:
            figures[f"true_positives{scope}"] = r["tp"]
            figures[f"false_positives{scope}"] = r["fp"]
    for size in sizes:
        gyre = results.get(("gyre", size))
        for tool in ("alibi-detect", "evidently", "scipy"):
            peer = results.get((tool, size))
            if gyre and peer:
                ratios[f"drift_{size}_vs_{KEYS[tool]}"] = peer["median_s"] / gyre["median_s"]
    for name, value in ratios.items():
        print(f"{name:28} {value:8.2f}  (peer time / gyre time, > 1: gyre ahead)")
    for note in notes:
        print(f"note: {note}")
    print(f"benchmark wall time: {wall_s:.0f} s")
    print(
        json.dumps(
            {
                "benchmark": "monitoring",
                "figures": {k: round(v, 4) for k, v in figures.items()},
                "ratios": {k: round(v, 3) for k, v in ratios.items()},
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
