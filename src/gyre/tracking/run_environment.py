"""Facts recorded with every run: git commit and dirty flag, host, Python, key packages."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

KEY_PACKAGES = ("gyre", "numpy", "pandas", "pyarrow", "scikit-learn", "torch", "onnxruntime")


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree holding ``folder``, or (None, None)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit.stdout.strip(), bool(status.stdout.strip())


def package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def run_facts(folder: Path) -> dict[str, Any]:
    commit, dirty = git_state(folder)
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "python": platform.python_version(),
        "git_commit": commit,
        "git_dirty": dirty,
        "environment": {"packages": package_versions(), "executable": sys.executable},
    }
