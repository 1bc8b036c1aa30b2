"""gyre in git hooks, so no CI server is needed.

- ``pre-push`` (or ``pre-commit``) in a developer's clone runs ``gyre ci check``;
- ``post-receive`` in the bare repository a team pushes to submits the pipeline of each new
  commit of the watched branch (:func:`submit_pushed`).

A hook gyre wrote carries :data:`MARK`; installing again rewrites it (idempotent), and a hook
someone else wrote is never overwritten silently.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from gyre.ci.repository import git
from gyre.errors import Conflict, InvalidParameter

MARK = "# written by gyre ci hook install"
CLIENT_HOOKS = ("pre-push", "pre-commit")


@dataclass(frozen=True)
class InstalledHook:
    path: Path
    replaced: bool  # a gyre hook was already there


def hooks_dir(repo: Path) -> Path:
    """The hooks folder of a repository (bare or not)."""
    done = git(repo, "rev-parse", "--git-path", "hooks")
    if done.returncode != 0:
        raise InvalidParameter(
            f"{repo} is not a git repository. Give the path of a clone or a bare repository."
        )
    path = Path(done.stdout.strip())
    return path if path.is_absolute() else (repo / path).resolve()


def install_check(repo: Path, hook: str = "pre-push") -> InstalledHook:
    if hook not in CLIENT_HOOKS:
        raise InvalidParameter(
            f"Unknown hook {hook!r}: gyre ci check runs as {' or '.join(CLIENT_HOOKS)}.",
            field="hook",
        )
    body = f"exec {_gyre()} ci check </dev/null\n"  # git passes the remote: not ours
    return _write(hooks_dir(repo) / hook, body)


def install_submit(
    repo: Path, reference: str, branch: str, workspace: str, params: dict[str, str]
) -> InstalledHook:
    """A post-receive hook that submits ``reference`` for each new commit of ``branch``,
    into ``workspace`` (the GYRE_URI the hook's runs go to)."""
    if not _is_bare(repo):
        raise InvalidParameter(
            f"{repo} is not a bare repository: a post-receive hook runs where a team pushes. "
            "Give the bare repository (git init --bare), or use 'gyre agent --watch-repo' for a "
            "repository gyre cannot put hooks in."
        )
    args = [reference, "--branch", branch]
    for key, value in params.items():
        args += ["--param", f"{key}={value}"]
    body = (
        f"export GYRE_URI={shlex.quote(workspace)}\n"
        f"exec {_python()} -m gyre.ci.hooks {' '.join(shlex.quote(a) for a in args)}\n"
    )
    return _write(hooks_dir(repo) / "post-receive", body)


def _python() -> str:
    return shlex.quote(sys.executable)


def _gyre() -> str:
    return f"{_python()} -m gyre.cli.main"


def _is_bare(repo: Path) -> bool:
    done = git(repo, "rev-parse", "--is-bare-repository")
    return done.stdout.strip() == "true"


def _write(path: Path, body: str) -> InstalledHook:
    replaced = False
    if path.exists():
        if MARK not in path.read_text(errors="replace"):
            raise Conflict(
                f"{path} exists and was not written by gyre. Add the gyre command to it by "
                "hand, or move it away and install again."
            )
        replaced = True
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.gyre")
    temp.write_text(f"#!/bin/sh\n{MARK}\nset -e\n{body}")
    temp.chmod(temp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(temp, path)
    return InstalledHook(path, replaced)


def pushed_heads(lines: list[str], branch: str) -> list[str]:
    """New heads of ``branch`` in post-receive input (``old new ref`` lines); a deleted
    branch (new = all zeros) submits nothing."""
    heads = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[2] == f"refs/heads/{branch}" and set(parts[1]) != {"0"}:
            heads.append(parts[1])
    return heads


def _main(argv: list[str]) -> int:
    """The post-receive hook: read the pushed refs, submit each new head of the branch."""
    import argparse

    from gyre.ci.watch import submit_commit
    from gyre.tracking.current_store import current_store

    parser = argparse.ArgumentParser(prog="gyre post-receive hook")
    parser.add_argument("reference")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--param", action="append", default=[])
    args = parser.parse_args(argv)
    params = dict(pair.split("=", 1) for pair in args.param)
    repo = Path.cwd()
    store = current_store()
    for commit in pushed_heads(sys.stdin.read().splitlines(), args.branch):
        submitted = submit_commit(store, repo, commit, args.reference, params)
        verb = "queued" if submitted.queued else "already queued"
        print(f"gyre: {verb} run {submitted.run_id} for {commit[:12]} on {args.branch}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
