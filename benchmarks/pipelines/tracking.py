"""The tracking half: gyre's ``log_metric`` and metric history against MLflow on SQLite, and
a million points from one run on SQLite and on PostgreSQL.

Every timed call runs in a fresh process (``scripts/``) that times itself and prints one
JSON line; imports happen before timing, databases are created before timing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import venvs
from measure import median, run_measured

HERE = Path(__file__).resolve().parent
GYRE_SCRIPT = HERE / "scripts" / "gyre_metrics.py"
MLFLOW_SCRIPT = HERE / "scripts" / "mlflow_metrics.py"
MLFLOW_REQUIREMENTS = ["mlflow==3.17.2"]
LOG_CALLS = 10_000
MILLION = 1_000_000
HISTORY_POINTS = 100_000
PG_ADMIN_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)


class StepFailed(Exception):
    """A tracking script failed; the message has its exit code and the end of its log."""


@dataclass
class TrackingResult:
    reps: int
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Runner:
    """Runs one script in a fresh process and returns its JSON line."""

    folder: Path
    env: dict[str, str]
    count: int = 0

    def __call__(self, argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
        self.count += 1
        log = self.folder / "logs" / f"{self.count:03d}-{Path(argv[1]).stem}-{argv[2]}.log"
        done = run_measured(
            argv, cwd=self.folder, env={**self.env, **(env or {})}, log=log, marker=str(self.folder)
        )
        if done.leftovers:
            raise StepFailed(f"{' '.join(argv[1:3])} left processes running: {done.leftovers}")
        lines = [x for x in log.read_text(errors="replace").splitlines() if x.startswith("{")]
        if not done.ok or not lines:
            raise StepFailed(
                f"{' '.join(argv[1:3])} failed (exit {done.returncode}): "
                f"{done.tail(3).replace(chr(10), ' | ')[:400]} [{log}]"
            )
        result: dict[str, Any] = json.loads(lines[-1])
        return result


def measure(
    reps: int, *, keep: bool = False, progress: Callable[[str], None] = print
) -> TrackingResult:
    result = TrackingResult(reps)
    folder = Path(tempfile.mkdtemp(prefix="gyre-bench-tracking-"))
    env = {k: v for k, v in os.environ.items() if k not in ("GYRE_URI", "GYRE_ARTIFACTS")}
    env.update({"DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "HOME": str(folder)})
    run = _Runner(folder, env)
    sections = [_gyre_log_and_history, _million_sqlite, _million_postgres, _mlflow]
    for section in sections:
        progress(f"  {(section.__doc__ or section.__name__).splitlines()[0]}")
        try:
            section(run, reps, result)
        except (StepFailed, venvs.Unavailable) as exc:
            result.notes.append(f"{section.__name__.strip('_')}: {exc}")
    if not keep and not result.notes:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def _gyre(run: _Runner, *args: str, env: dict[str, str]) -> dict[str, Any]:
    return run([sys.executable, str(GYRE_SCRIPT), *args], env)


def _init_workspace(run: _Runner, name: str) -> dict[str, str]:
    workspace = run.folder / name
    gyre = str(Path(sys.executable).parent / "gyre")
    env = {"GYRE_URI": str(workspace / ".gyre")}  # gyre init creates the workspace GYRE_URI names
    workspace.mkdir()
    done = run_measured(
        [gyre, "init"], cwd=workspace, env={**run.env, **env}, log=run.folder / "logs" / "init.log"
    )
    if not done.ok:
        raise StepFailed(f"gyre init failed: {done.tail(3)}")
    return env


def _gyre_log_and_history(run: _Runner, reps: int, result: TrackingResult) -> None:
    """gyre: 10,000 log_metric calls; reading back a 100,000-point history."""
    env = _init_workspace(run, "gyre-sqlite")
    times = [_gyre(run, "log", str(LOG_CALLS), env=env)["seconds"] for _ in range(reps)]
    result.figures["log_metric_10k_gyre_s"] = median(times)
    run_id = _gyre(run, "log", str(HISTORY_POINTS), env=env)["run_id"]
    reads = [_read(_gyre(run, "history", run_id, "loss", env=env)) for _ in range(reps)]
    result.figures["metric_history_100k_gyre_s"] = median(reads)


def _read(out: dict[str, Any]) -> float:
    if out["points"] != HISTORY_POINTS:
        raise StepFailed(f"history returned {out['points']} points, not {HISTORY_POINTS}")
    return float(out["seconds"])


def _million_sqlite(run: _Runner, reps: int, result: TrackingResult) -> None:
    """gyre: 1,000,000 points from one run on SQLite."""
    env = _init_workspace(run, "gyre-million")
    times = [_gyre(run, "log", str(MILLION), env=env)["seconds"] for _ in range(reps)]
    result.figures["million_points_sqlite_s"] = median(times)


def _million_postgres(run: _Runner, reps: int, result: TrackingResult) -> None:
    """gyre: 1,000,000 points from one run on PostgreSQL (a fresh database, dropped after)."""
    with _postgres_database() as url:
        env = {"GYRE_URI": url, "GYRE_ARTIFACTS": str(run.folder / "pg-blobs")}
        gyre = str(Path(sys.executable).parent / "gyre")
        done = run_measured(
            [gyre, "migrate"],
            cwd=run.folder,
            env={**run.env, **env},
            log=run.folder / "logs" / "migrate.log",
        )
        if not done.ok:
            raise StepFailed(f"gyre migrate failed: {done.tail(3)}")
        times = [_gyre(run, "log", str(MILLION), env=env)["seconds"] for _ in range(reps)]
        result.figures["million_points_postgres_s"] = median(times)


@contextmanager
def _postgres_database() -> Iterator[str]:
    """A fresh database on the local server, dropped afterwards; yields its URL."""
    try:
        import psycopg
    except ImportError as exc:
        raise StepFailed("psycopg is not installed: pip install -e '.[postgres]'") from exc
    name = f"gyre_bench_{uuid.uuid4().hex[:10]}"
    errors = []
    for admin_url in PG_ADMIN_URLS:
        try:
            admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            errors.append(f"{admin_url}: {str(exc).strip()}")
            continue
        break
    else:
        raise StepFailed(f"no PostgreSQL server to use ({'; '.join(errors)})")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _mlflow(run: _Runner, reps: int, result: TrackingResult) -> None:
    """MLflow on SQLite: 10,000 log_metric calls; reading back a 100,000-point history."""
    python = str(venvs.python_for("mlflow", MLFLOW_REQUIREMENTS))
    uri = f"sqlite:///{run.folder / 'mlflow.db'}"

    def mlflow(*args: str) -> dict[str, Any]:
        return run([python, str(MLFLOW_SCRIPT), args[0], uri, *args[1:]])

    mlflow("init")
    times = [mlflow("log", str(LOG_CALLS))["seconds"] for _ in range(reps)]
    result.figures["log_metric_10k_mlflow_s"] = median(times)
    run_id = mlflow("fill", str(HISTORY_POINTS))["run_id"]
    reads = [_read(mlflow("history", run_id, "loss")) for _ in range(reps)]
    result.figures["metric_history_100k_mlflow_s"] = median(reads)
