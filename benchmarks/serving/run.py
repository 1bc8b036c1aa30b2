"""Serving benchmark: ``gyre serve`` beside MLServer, MLflow, BentoML, LitServe and PyTriton.

    .venv/bin/python benchmarks/serving/run.py [--quick] [--reps N] [--seconds S]
                                               [--tools gyre,mlserver,...] [--models logreg]
    .venv/bin/python benchmarks/serving/run.py --only collector   # the collector's overhead

Two scikit-learn models on 20 numeric features (a logistic regression, where the server is the
bottleneck, and a 100-tree random forest, where the model is), each served by every tool in
turn; wrk posts 1-row and 100-row JSON requests at concurrency 1, 8 and 64, 20 s each
(``--quick``: 3 s, concurrency 8 and 64). gyre also runs with ``--no-collect`` at
concurrency 8 (the collector's overhead), and its inference dataset is counted against the
answers after SIGTERM. ``--only collector`` runs just gyre with and without its collector at
concurrency 8, 10 s each, median of 3. See README.md.

Prints a table, then as its last line one JSON object:
``{"benchmark": "serving", "figures": {...}, "ratios": {...}}`` (ratios > 1: gyre ahead).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs
import report
from gyre_tool import Gyre, GyreWorkspace
from load import WrkMissing, ensure_wrk
from peer_tools import BentoML, LitServe, MLflow, MLServer, PyTriton
from suite import Plan, Results, run_model
from tools import Tool
from venvs import CACHE, REPO, Unavailable
from workload import MODELS, Workload, train

FULL = Plan(concurrencies=(1, 8, 64), row_counts=(1, 100), seconds=20, reps=1, warmup_s=3)
QUICK = Plan(concurrencies=(8, 64), row_counts=(1, 100), seconds=3, reps=1, warmup_s=1)
# --only collector: gyre with and without its collector at concurrency 8, median of 3 (~6 min)
COLLECTOR = Plan(concurrencies=(8,), row_counts=(1, 100), seconds=10, reps=3, warmup_s=2)
PEERS: dict[str, type[MLServer | MLflow | BentoML | LitServe | PyTriton]] = {
    "mlserver": MLServer,
    "mlflow": MLflow,
    "bentoml": BentoML,
    "litserve": LitServe,
    "pytriton": PyTriton,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs at concurrency 8 and 64")
    parser.add_argument("--reps", type=int, help="runs per measurement, median (default 1)")
    parser.add_argument("--seconds", type=float, help="seconds per run (default 20; quick 3)")
    parser.add_argument(
        "--tools",
        default=",".join(["gyre", *PEERS]),
        help="comma-separated; gyre always",
    )
    parser.add_argument("--models", default=",".join(MODELS), help="logreg,forest")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument(
        "--only",
        choices=["collector"],
        help="collector: only gyre with and without --no-collect at concurrency 8 (the "
        "collector's overhead), 10 s runs, median of 3",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    base = COLLECTOR if args.only == "collector" else QUICK if args.quick else FULL
    return Plan(
        concurrencies=base.concurrencies,
        row_counts=base.row_counts,
        seconds=args.seconds or base.seconds,
        reps=args.reps or base.reps,
        warmup_s=base.warmup_s,
    )


def prepare_tools(
    names: list[str],
    workspace: GyreWorkspace,
    workloads: list[Workload],
    work: Path,
    results: Results,
) -> list[Tool]:
    tools: list[Tool] = [Gyre(workspace, collect=True), Gyre(workspace, collect=False)]
    tools += [PEERS[name]() for name in names if name in PEERS]
    ready = []
    for tool in tools:
        try:
            tool.prepare(workloads, work)
        except Unavailable as exc:
            print(f"  {tool.label} skipped: {exc}", flush=True)
            for workload in workloads:
                results.failures[(tool.key, workload.name)] = f"skipped: {exc}"
            results.labels[tool.key] = tool.label  # a column that says why it is empty
            continue
        results.labels[tool.key] = tool.label
        ready.append(tool)
    return ready


def gyre_revision() -> str:
    """The commit gyre runs from (editable install), and whether src/ has changes on top."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" + uncommitted changes in src/" if git("status", "--porcelain", "src") else "")


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so that the servers are stopped on the way out


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    plan = make_plan(args)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    revision = gyre_revision()
    print(f"gyre at {revision}", flush=True)
    try:
        wrk = ensure_wrk()
    except WrkMissing as exc:
        print(f"cannot run: {exc}")
        return 2
    work = CACHE / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    models = [m for m in args.models.split(",") if m in MODELS]
    results = Results()
    try:
        print("training the models and preparing the tools ...", flush=True)
        workloads = train(models, work / "models")
        workspace = GyreWorkspace()
        names = [] if args.only else [n.strip() for n in args.tools.split(",")]
        tools = prepare_tools(names, workspace, workloads, work, results)
        for workload in workloads:
            print(f"{workload.name}:", flush=True)
            run_model(workload, tools, workspace, plan, wrk, work, results)
    finally:
        left = procs.leftovers()
        if left:
            print(f"processes left behind, now killed: {left}")
            procs.kill_leftovers()
            time.sleep(1)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    fig = report.figures(results, plan, models)
    rat = {} if args.only else report.ratios(results, plan, models)  # no peers ran
    minutes = (time.perf_counter() - started) / 60
    if gyre_revision() != revision:  # gyre is installed editable: later servers ran new code
        revision += f", changed to {gyre_revision()} during the run"
    header = report.describe(plan, (load_before, os.getloadavg()[0]), minutes, revision)
    report.print_table(results, plan, models, rat, fig, header)
    (CACHE / "last-run.md").write_text(report.markdown(results, plan, models, rat))
    still = procs.leftovers()
    print(f"\nMarkdown table: {CACHE / 'last-run.md'}")
    print(f"servers left running: {len(still)} {still if still else ''}".rstrip())
    print(report.summary(fig, rat), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
