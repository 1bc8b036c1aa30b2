"""The serving benchmark's peer environments, under ``.bench-cache/serving/<tool>/`` (see
``benchmarks/peer_venvs.py``). Every peer gets the scikit-learn of gyre's own environment, so
the one trained model loads everywhere and predicts the same."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from peer_venvs import PeerEnvironments, Unavailable  # noqa: E402

CACHE = REPO / ".bench-cache" / "serving"
_environments = PeerEnvironments(CACHE)
ensure = _environments.ensure
__all__ = ["CACHE", "REPO", "Unavailable", "ensure"]
