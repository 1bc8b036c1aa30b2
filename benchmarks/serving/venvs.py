"""Each peer lives in its own virtual environment under ``.bench-cache/serving/<tool>/``.

The benchmark creates it on first use (``python3 -m venv``, then ``pip install`` of pinned
versions), so a fresh machine can run it; a stamp file records what was installed, and a
changed pin re-creates the environment. Every peer gets the scikit-learn of gyre's own
environment, so the one trained model loads everywhere and predicts the same.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".bench-cache" / "serving"
INSTALL_TIMEOUT_S = 900


class Unavailable(Exception):
    """A peer could not be installed or started here; the message says why."""


def venv_bin(tool: str) -> Path:
    return CACHE / tool / "venv" / "bin"


def ensure(tool: str, requirements: list[str]) -> Path:
    """The ``bin`` folder of ``tool``'s environment, installing ``requirements`` if needed.

    Raises:
        Unavailable: the environment could not be created or the install failed.
    """
    home = CACHE / tool
    venv = home / "venv"
    python = venv / "bin" / "python"
    stamp = home / "installed.txt"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv / "bin"
    if venv.exists():
        shutil.rmtree(venv)
    home.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    log = home / "install.log"
    print(f"  installing {tool} ({' '.join(requirements)}) ...", flush=True)
    started = time.perf_counter()
    base = shutil.which("python3") or sys.executable
    _call([base, "-m", "venv", str(venv)], log, f"creating the {tool} environment")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    _call([*pip, *requirements], log, f"pip install {' '.join(requirements)}")
    stamp.write_text(wanted)
    print(f"  installed {tool} in {time.perf_counter() - started:.0f} s", flush=True)
    return venv / "bin"


def _call(argv: list[str], log: Path, doing: str) -> None:
    with open(log, "ab") as out:
        try:
            done = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"{doing} failed: {exc}") from exc
    if done.returncode != 0:
        raise Unavailable(f"{doing} failed: {last_line(log)} (see {log})")


def last_line(log: Path) -> str:
    """The last meaningful line of a log (pip's index-location warnings skipped)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    useful = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("WARNING: Location")]
    return useful[-1][:300] if useful else "no output"
