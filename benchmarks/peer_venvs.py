"""Each benchmark's peers live in their own virtual environments, one per tool, under a cache
folder (``.bench-cache/<tool>/`` for the pipelines benchmark, ``.bench-cache/serving/<tool>/``
for the serving one).

An environment is created on first use (``python3 -m venv``, then ``pip install`` of pinned
versions), so a fresh machine can run the benchmark; a stamp file records what was installed,
and a changed pin re-creates it. An install that failed is not retried in the same process.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

INSTALL_TIMEOUT_S = 900


class Unavailable(Exception):
    """A peer could not be installed or started here; the message says why."""


class PeerEnvironments:
    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self._failed: dict[str, str] = {}

    def venv_bin(self, tool: str) -> Path:
        return self.cache / tool / "venv" / "bin"

    def python_for(self, tool: str, requirements: list[str]) -> Path:
        """The Python of ``tool``'s environment, installing ``requirements`` first if needed."""
        return self.ensure(tool, requirements) / "python"

    def ensure(self, tool: str, requirements: list[str]) -> Path:
        """The ``bin`` folder of ``tool``'s environment, installing ``requirements`` if needed.

        Raises:
            Unavailable: the environment could not be created or the install failed.
        """
        if tool in self._failed:
            raise Unavailable(self._failed[tool])
        try:
            return self._install(tool, requirements)
        except Unavailable as exc:
            self._failed[tool] = str(exc)
            raise

    def _install(self, tool: str, requirements: list[str]) -> Path:
        home = self.cache / tool
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
