"""The server benchmark's peer environment: MLflow's full package (its tracking server) with the
PostgreSQL driver it needs for ``--backend-store-uri postgresql://``, under
``.bench-cache/server/mlflow/venv`` (see ``benchmarks/peer_venvs.py``). The same version as the
client gyre's MLflow endpoint is tested with (``requirements/mlflow-client.txt``).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from peer_venvs import PeerEnvironments, Unavailable  # noqa: E402

CACHE = REPO / ".bench-cache" / "server"
MLFLOW = ["mlflow==3.17.2", "psycopg2-binary==2.9.13"]
_environments = PeerEnvironments(CACHE)


def mlflow_bin() -> Path:
    """The ``bin`` folder of MLflow's environment, installed first if needed.

    Raises:
        Unavailable: the environment could not be created or the install failed.
    """
    found: Path = _environments.ensure("mlflow", MLFLOW)
    return found


__all__ = ["CACHE", "MLFLOW", "REPO", "Unavailable", "mlflow_bin"]
