"""The monitoring benchmark's peer environments, one per tool, under
``.bench-cache/monitoring/<tool>/venv`` (see ``benchmarks/peer_venvs.py``). The pins are the
``requirements-<tool>.txt`` files beside this one; the plain scipy loop runs in gyre's own
``.venv`` (same scipy, numpy and pyarrow as the lock file) and needs no environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from peer_venvs import PeerEnvironments, Unavailable  # noqa: E402

CACHE = REPO / ".bench-cache" / "monitoring"
TOOLS = ("evidently", "alibi-detect")
_environments = PeerEnvironments(CACHE)


def requirements(tool: str) -> list[str]:
    """The pins of ``requirements-<tool>.txt``, comments and blank lines left out."""
    lines = (HERE / f"requirements-{tool}.txt").read_text().splitlines()
    return [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()]


def python_for(tool: str) -> Path:
    """The Python of ``tool``'s environment, installed first if needed.

    Raises:
        Unavailable: the environment could not be created or the install failed.
    """
    return _environments.python_for(tool, requirements(tool))


__all__ = ["CACHE", "REPO", "TOOLS", "Unavailable", "python_for", "requirements"]
