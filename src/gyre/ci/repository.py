"""The git repository a CI command runs in: its root, commit, state and changed files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gyre.errors import InvalidParameter


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise InvalidParameter(
            "git is not installed (or not on PATH); gyre ci needs it. Install git."
        ) from None


def root(folder: Path) -> Path:
    """The top of the work tree holding ``folder``."""
    done = _git(folder, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise InvalidParameter(
            f"{folder} is not in a git repository; gyre ci works on committed code. Run "
            "'git init' and commit, or run gyre ci from inside the repository."
        )
    return Path(done.stdout.strip())


def head(repo: Path) -> str:
    done = _git(repo, "rev-parse", "HEAD")
    if done.returncode != 0:
        raise InvalidParameter(
            f"The repository {repo} has no commit yet. Commit the project first (git commit)."
        )
    return done.stdout.strip()


def dirty_files(repo: Path) -> list[str]:
    """Tracked files with changes that are not committed."""
    done = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return [line[3:] for line in done.stdout.splitlines() if line.strip()]


def tracked(repo: Path, *patterns: str) -> list[Path]:
    """Tracked files matching git pathspec ``patterns`` (e.g. ``*.ipynb``)."""
    done = _git(repo, "ls-files", "-z", "--", *patterns)
    return [repo / name for name in done.stdout.split("\0") if name]


def changed_since(repo: Path, base: str) -> list[str]:
    """Files that differ between ``base`` and the work tree (committed or not)."""
    merge_base = _git(repo, "merge-base", base, "HEAD")
    if merge_base.returncode != 0:
        raise InvalidParameter(
            f"--base {base!r} is not a commit, branch or tag of {repo} "
            f"({merge_base.stderr.strip()}). Give an existing ref, e.g. --base origin/main "
            "(fetch it first in a shallow clone)."
        )
    done = _git(repo, "diff", "--name-only", merge_base.stdout.strip())
    return sorted(line for line in done.stdout.splitlines() if line)
