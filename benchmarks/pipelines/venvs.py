"""The pipelines benchmark's peer environments, under ``.bench-cache/<tool>/`` (see
``benchmarks/peer_venvs.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from peer_venvs import PeerEnvironments, Unavailable  # noqa: E402

CACHE = REPO / ".bench-cache"
_environments = PeerEnvironments(CACHE)
python_for = _environments.python_for
__all__ = ["CACHE", "REPO", "Unavailable", "python_for"]
