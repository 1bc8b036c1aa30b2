"""What every server under test provides: set-up, start, its native request and answer formats."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from procs import Server
from workload import Workload


class Tool(Protocol):
    key: str  # in figures: gyre, gyre_nocollect, mlserver, mlflow, bentoml
    label: str  # in the table, with the version

    def prepare(self, workloads: list[Workload], work: Path) -> None:
        """Install what is missing and put the models where the server reads them.

        Raises:
            venvs.Unavailable: the tool cannot be installed or set up here.
        """
        ...

    def start(self, workload: Workload, work: Path) -> Server: ...
    def ready_path(self, workload: Workload) -> str: ...
    def score_path(self, workload: Workload) -> str: ...
    def body(self, rows: list[list[float]]) -> bytes: ...
    def predictions(self, answer: Any) -> list[Any]: ...


def base_env(extra_path: Path | None = None) -> dict[str, str]:
    """This environment without gyre's settings; ``extra_path`` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GYRE_", "VIRTUAL_ENV"))}
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    return env


def sklearn_pin() -> str:
    import sklearn

    return f"scikit-learn=={sklearn.__version__}"
