"""CI benchmark: ``gyre ci plan`` against ``dvc status`` on the same change, and what
``gyre ci check`` adds to the tools it runs. See README.md beside this file.

    .venv/bin/python benchmarks/ci/run.py [--reps 5] [--modules 50]

Prints a table, then as its last line one JSON object:
``{"benchmark": "ci", "figures": {...}, "ratios": {...}}`` (ratios > 1: gyre ahead).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from peer_venvs import PeerEnvironments, Unavailable  # noqa: E402

DVC = ["dvc==3.67.1"]
BIN = Path(sys.executable).parent
QUIET = {"DVC_NO_ANALYTICS": "1", "PYTHONDONTWRITEBYTECODE": "1"}

DVC_YAML = """stages:
  prepare:
    cmd: {python} stage.py data/v1 out/data
    deps: [stage.py, training.py, pipeline.py, data/v1]
    outs: [out/data]
  train:
    cmd: {python} stage.py out/data out/checkpoints
    deps: [stage.py, training.py, out/data]
    outs: [out/checkpoints]
  register:
    cmd: {python} stage.py out/checkpoints out/model
    deps: [stage.py, out/checkpoints]
    outs: [out/model]
"""
STAGE = """import shutil, sys
shutil.rmtree(sys.argv[2], ignore_errors=True)
shutil.copytree(sys.argv[1], sys.argv[2])
"""
MODULE = """import gyre
from gyre import step

import shared


@step
def load_{i}(n: int = 3) -> list:
    return [shared.value(k) for k in range(n)]


@step
def fit_{i}(values: list) -> dict:
    return {{"total": sum(values)}}


@step
def report_{i}(model: dict) -> str:
    return str(model["total"])


@gyre.pipeline
def pipeline_{i}(n: int = 3):
    report_{i}(fit_{i}(load_{i}(n=n)))
"""
NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{k}",
            "metadata": {},
            "outputs": [],
            "source": [f"x = {k}"],
        }
        for k in range(20)
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Wall time of a command from process start; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def median_of(reps: int, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    return statistics.median(run(argv, cwd, env) for _ in range(reps))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def seer_project(base: Path) -> Path:
    """The Seer example in a git repository, trained once (1 epoch), with the same stages as
    a DVC project beside it."""
    project = base / "seer"
    shutil.copytree(
        ROOT / "examples" / "seer", project, ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {**os.environ, **QUIET, "GYRE_URI": str(project / ".gyre")}
    run([sys.executable, "make_data.py", "data", "--per-class", "40"], project, env)
    (project / ".gitignore").write_text(".gyre/\nout/\n.dvc/cache\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.email", "b@example.com")
    git(project, "config", "user.name", "bench")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "seer")
    gyre = str(BIN / "gyre")
    run([gyre, "init"], project, env)
    run([gyre, "data", "add", "products", "data/v1"], project, env)
    run([gyre, "run", "pipeline.py:seer", "--param", "epochs=1"], project, env)
    return project


def dvc_project(seer: Path, environments: PeerEnvironments) -> tuple[Path, Path]:
    """The same files and stages for DVC, reproduced once (``dvc repro``)."""
    dvc_bin = environments.ensure("dvc", DVC)
    project = seer.parent / "seer-dvc"
    shutil.copytree(seer, project, ignore=shutil.ignore_patterns(".gyre", ".git", "__pycache__"))
    (project / "stage.py").write_text(STAGE)
    (project / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    env = {**os.environ, **QUIET}
    run([str(dvc_bin / "dvc"), "init", "--no-scm", "-q"], project, env)
    run([str(dvc_bin / "dvc"), "repro", "-q"], project, env)
    return project, dvc_bin


def modules_project(base: Path, count: int) -> Path:
    """A project of ``count`` pipeline modules, a shared helper, notebooks and tests."""
    project = base / "many"
    project.mkdir()
    (project / "shared.py").write_text("def value(k):\n    return k * 2\n")
    for i in range(count):
        (project / f"pipeline_{i}.py").write_text(MODULE.format(i=i))
    notebooks = [project / f"notebook_{k}.ipynb" for k in range(5)]
    for notebook in notebooks:
        notebook.write_text(json.dumps(NOTEBOOK, indent=1) + "\n")
    run([str(BIN / "nbstripout"), *map(str, notebooks)], project)  # as a careful team commits
    (project / "tests").mkdir()
    (project / "tests" / "test_shared.py").write_text(
        "import shared\n\n\ndef test_value():\n    assert shared.value(2) == 4\n"
    )
    (project / "requirements.txt").write_text("numpy==2.3.5\n")
    (project / "pyproject.toml").write_text(
        "[project]\nname = 'many'\n\n[tool.pytest.ini_options]\npythonpath = ['.']\n"
    )
    (project / "gyre.yaml").write_text("ci:\n  tests: [--collect-only, -q]\n")
    (project / ".gitignore").write_text(".gyre/\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.email", "b@example.com")
    git(project, "config", "user.name", "bench")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "many")
    run([str(BIN / "gyre"), "init"], project, {**os.environ, "GYRE_URI": str(project / ".gyre")})
    run(
        [str(BIN / "gyre"), "run", "pipeline_0.py:pipeline_0"],
        project,
        {**os.environ, "GYRE_URI": str(project / ".gyre")},
    )
    return project


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--modules", type=int, default=50)
    args = parser.parse_args(argv)
    environments = PeerEnvironments(ROOT / ".bench-cache" / "ci")
    figures: dict[str, float] = {}
    notes: list[str] = []
    gyre = str(BIN / "gyre")
    with tempfile.TemporaryDirectory(prefix="gyre-bench-ci-") as scratch:
        base = Path(scratch)
        print(
            "setting up: the Seer example (trained once), its DVC twin, "
            f"and a project of {args.modules} pipeline modules",
            flush=True,
        )
        seer = seer_project(base)
        env = {**os.environ, **QUIET, "GYRE_URI": str(seer / ".gyre")}
        # The change under review: a helper module that train imports.
        with open(seer / "training.py", "a") as handle:
            handle.write("\n# a change to review\n")
        figures["plan_seer_s"] = median_of(
            args.reps, [gyre, "ci", "plan", "pipeline.py:seer", "--param", "epochs=1"], seer, env
        )
        try:
            dvc, dvc_bin = dvc_project(seer, environments)
            with open(dvc / "training.py", "a") as handle:
                handle.write("\n# a change to review\n")
            status = subprocess.run(
                [str(dvc_bin / "dvc"), "status"],
                cwd=dvc,
                capture_output=True,
                text=True,
                env={**os.environ, **QUIET},
            )
            if "changed deps" not in status.stdout:
                notes.append(f"dvc status did not see the change: {status.stdout.strip()[:200]}")
            figures["dvc_status_seer_s"] = median_of(
                args.reps, [str(dvc_bin / "dvc"), "status"], dvc, {**os.environ, **QUIET}
            )
        except Unavailable as exc:
            notes.append(f"DVC could not be installed: {exc}")

        many = modules_project(base, args.modules)
        env_many = {**os.environ, **QUIET, "GYRE_URI": str(many / ".gyre")}
        with open(many / "shared.py", "a") as handle:
            handle.write("\n# a change to review\n")
        figures["plan_modules_s"] = median_of(
            args.reps, [gyre, "ci", "plan", "pipeline_0.py:pipeline_0"], many, env_many
        )
        git(many, "checkout", "--", "shared.py")
        tools = {
            "ruff_s": [str(BIN / "ruff"), "check", "."],
            "pytest_collect_s": [sys.executable, "-m", "pytest", "--collect-only", "-q"],
            "nbstripout_verify_s": [
                str(BIN / "nbstripout"),
                "--verify",
                *sorted(str(p) for p in many.glob("*.ipynb")),
            ],
        }
        # Paired: each repetition runs gyre ci check and then the three tools, so load from
        # elsewhere falls on both; the overhead is the median of the per-repetition differences.
        times: dict[str, list[float]] = {name: [] for name in ["check_s", *tools]}
        overheads = []
        for _ in range(args.reps):
            times["check_s"].append(run([gyre, "ci", "check"], many, env_many))
            for name, command in tools.items():
                times[name].append(run(command, many, env_many))
            overheads.append(times["check_s"][-1] - sum(times[n][-1] for n in tools))
        figures.update({name: statistics.median(values) for name, values in times.items()})
        figures["check_overhead_s"] = statistics.median(overheads)

    ratios = {}
    if "dvc_status_seer_s" in figures:
        ratios["plan_vs_dvc_status"] = figures["dvc_status_seer_s"] / figures["plan_seer_s"]
    print()
    print(f"{'measurement':48} {'seconds':>8}")
    for name, value in figures.items():
        print(f"{name:48} {value:8.3f}")
    for name, value in ratios.items():
        print(f"{name:48} {value:8.2f}  (> 1: gyre ahead)")
    for note in notes:
        print(f"note: {note}")
    print(
        f"targets: plan_seer_s < 1 s; plan_vs_dvc_status >= 2; check_overhead_s < 0.5 s "
        f"(medians of {args.reps})"
    )
    print(
        json.dumps(
            {
                "benchmark": "ci",
                "figures": {k: round(v, 4) for k, v in figures.items()},
                "ratios": {k: round(v, 3) for k, v in ratios.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
