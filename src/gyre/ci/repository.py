"""The git repository a CI command runs in: its root, commit, state and changed files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gyre.errors import InvalidParameter


def git(folder: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run git in ``folder``. GIT_* variables are left out: git sets GIT_DIR for hooks, and a
    hook's commands run in other repositories (a temporary work tree)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=env,
        )
    except FileNotFoundError:
        raise InvalidParameter(
            "git is not installed (or not on PATH); gyre ci needs it. Install git."
        ) from None
    if check and done.returncode != 0:
        raise InvalidParameter(
            f"git {' '.join(args)} failed in {folder}: {done.stderr.strip()}. Check that "
            f"{folder} is the repository and the branch exists."
        )
    return done


def root(folder: Path) -> Path:
    """The top of the work tree holding ``folder``."""
    done = git(folder, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise InvalidParameter(
            f"{folder} is not in a git repository; gyre ci works on committed code. Run "
            "'git init' and commit, or run gyre ci from inside the repository."
        )
    return Path(done.stdout.strip())


def head(repo: Path) -> str:
    done = git(repo, "rev-parse", "HEAD")
    if done.returncode != 0:
        raise InvalidParameter(
            f"The repository {repo} has no commit yet. Commit the project first (git commit)."
        )
    return done.stdout.strip()


def dirty_files(repo: Path) -> list[str]:
    """Tracked files with changes that are not committed."""
    done = git(repo, "status", "--porcelain", "--untracked-files=no")
    return [line[3:] for line in done.stdout.splitlines() if line.strip()]


def tracked(repo: Path, *patterns: str) -> list[Path]:
    """Tracked files matching git pathspec ``patterns`` (e.g. ``*.ipynb``)."""
    done = git(repo, "ls-files", "-z", "--", *patterns)
    return [repo / name for name in done.stdout.split("\0") if name]


def changed_since(repo: Path, base: str) -> list[str]:
    """Files that differ between ``base`` and the work tree (committed or not)."""
    merge_base = git(repo, "merge-base", base, "HEAD")
    if merge_base.returncode != 0:
        raise InvalidParameter(
            f"--base {base!r} is not a commit, branch or tag of {repo} "
            f"({merge_base.stderr.strip()}). Give an existing ref, e.g. --base origin/main "
            "(fetch it first in a shallow clone)."
        )
    done = git(repo, "diff", "--name-only", merge_base.stdout.strip())
    return sorted(line for line in done.stdout.splitlines() if line)
