"""Submit the pipeline of every new commit of a branch: from a post-receive hook, or by
polling a repository gyre cannot put hooks in (``gyre agent --watch-repo``).

Each commit is submitted from a temporary work tree of exactly that commit, tagged with the
commit (and build id = its short hash). Submitting is idempotent per commit and parameters,
and the last submitted commit is remembered in the workspace's local folder, so an agent
killed between two pushes submits every commit once when it comes back; a force-pushed branch
submits its new head.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gyre.ci.repository import git
from gyre.ci.submit import submit
from gyre.pipelines.submission import Submitted
from gyre.store import Store


def submit_commit(
    store: Store, repo: Path, commit: str, reference: str, params: dict[str, str]
) -> Submitted:
    """Publish and queue ``reference`` (``FILE:PIPELINE`` relative to the repository root) as
    ``commit`` has it."""
    with tempfile.TemporaryDirectory(prefix="gyre-commit-") as scratch:
        tree = Path(scratch) / "tree"
        git(repo, "worktree", "add", "--detach", "--force", str(tree), commit, check=True)
        try:
            done = submit(store, str(tree / reference), commit[:12], params=params)
        finally:
            git(repo, "worktree", "remove", "--force", str(tree))
            git(repo, "worktree", "prune")
    return done.submitted


@dataclass
class BranchWatcher:
    store: Store
    repo: Path
    branch: str
    reference: str
    params: dict[str, str]

    def __post_init__(self) -> None:
        self.repo = self.repo.resolve()
        git(self.repo, "rev-parse", "--git-dir", check=True)
        key = hashlib.sha256(
            json.dumps([str(self.repo), self.branch, self.reference, self.params]).encode()
        ).hexdigest()[:16]
        self.state = self.store.local_path("watch") / f"{key}.json"

    def head(self) -> str | None:
        done = git(
            self.repo, "rev-parse", "--verify", "-q", f"refs/heads/{self.branch}", check=False
        )
        return done.stdout.strip() or None

    def last(self) -> str | None:
        try:
            value = json.loads(self.state.read_text()).get("last")
        except (OSError, ValueError):
            return None
        return str(value) if value else None

    def new_commits(self) -> list[str]:
        """Commits of the branch not submitted yet, oldest first (only the head after a
        force-push or on the first poll)."""
        head, last = self.head(), self.last()
        if head is None or head == last:
            return []
        if last is None:
            return [head]
        ancestor = git(self.repo, "merge-base", "--is-ancestor", last, head)
        if ancestor.returncode != 0:
            return [head]  # force-pushed (or the old head is gone): the new head once
        listed = git(
            self.repo, "rev-list", "--reverse", "--first-parent", f"{last}..{head}", check=True
        )
        return listed.stdout.split()

    def poll(self, say: Callable[[str], None] = print) -> list[Submitted]:
        done = []
        for commit in self.new_commits():
            submitted = submit_commit(self.store, self.repo, commit, self.reference, self.params)
            self._remember(commit)  # after the submission: a crash in between re-submits,
            done.append(submitted)  # which returns the run queued the first time
            verb = "queued" if submitted.queued else "already queued"
            say(f"watch: {verb} run {submitted.run_id} for {commit[:12]} on {self.branch}")
        return done

    def _remember(self, commit: str) -> None:
        temp = self.state.with_name(f".{self.state.name}.{os.getpid()}")
        temp.write_text(json.dumps({"last": commit}))
        os.replace(temp, self.state)
