"""Each peer lives in its own virtual environment under ``.bench-cache/<tool>/``.

The benchmark creates it on first use (``python3 -m venv`` and ``pip install`` of pinned
versions), so a fresh machine can run the benchmark; a stamp file records what was installed,
and a changed pin re-creates the environment.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".bench-cache"
INSTALL_TIMEOUT_S = 900
_failed: dict[str, str] = {}
"""Tools whose install failed in this process, with why: not retried for the next workload."""


class Unavailable(Exception):
    """A peer could not be installed or run here; the message says why."""


def python_for(tool: str, requirements: list[str]) -> Path:
    """The Python of ``tool``'s environment, installing ``requirements`` first if needed.

    Raises:
        Unavailable: the environment could not be created or the install failed.
    """
    if tool in _failed:
        raise Unavailable(_failed[tool])
    try:
        return _install(tool, requirements)
    except Unavailable as exc:
        _failed[tool] = str(exc)
        raise


def _install(tool: str, requirements: list[str]) -> Path:
    home = CACHE / tool
    venv = home / "venv"
    python = venv / "bin" / "python"
    stamp = home / "installed.txt"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if venv.exists():
        shutil.rmtree(venv)
    home.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    log = home / "install.log"
    print(f"  installing {tool} ({' '.join(requirements)}) into {venv} ...", flush=True)
    started = time.perf_counter()
    base = shutil.which("python3") or sys.executable
    _call([base, "-m", "venv", str(venv)], log, f"creating the {tool} virtual environment")
    _call(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", *requirements],
        log,
        f"pip install {' '.join(requirements)}",
    )
    stamp.write_text(wanted)
    print(f"  installed {tool} in {time.perf_counter() - started:.0f} s", flush=True)
    return python


def _call(argv: list[str], log: Path, doing: str) -> None:
    with open(log, "ab") as out:
        try:
            done = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"{doing} failed: {exc}") from exc
    if done.returncode != 0:
        raise Unavailable(f"{doing} failed: {last_error(log)} (see {log})")


def last_error(log: Path) -> str:
    """The last meaningful line of a log (pip's index warnings skipped)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    useful = [
        line.strip() for line in lines if line.strip() and not line.startswith("WARNING: Location")
    ]
    return useful[-1][:300] if useful else "no output"
