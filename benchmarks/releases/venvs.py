"""The releases benchmark's peer environment, under ``.bench-cache/releases/rayserve/`` (see
``benchmarks/peer_venvs.py``). Ray Serve gets the scikit-learn of gyre's own environment
(``requirements/lock.txt``), so the one trained model file loads in both and predicts the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from peer_venvs import PeerEnvironments, Unavailable  # noqa: E402

CACHE = REPO / ".bench-cache" / "releases"
# ray 2.60.0 as in gyre's own .venv; its serve extra brings FastAPI, uvicorn, grpc etc.
RAY_SERVE = ["ray[serve]==2.60.0", "scikit-learn==1.9.1", "pandas==3.1.1"]
_environments = PeerEnvironments(CACHE)
ensure = _environments.ensure
__all__ = ["CACHE", "RAY_SERVE", "REPO", "Unavailable", "ensure"]
