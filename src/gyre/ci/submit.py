"""``gyre ci submit``: publish the pipeline as this commit has it and queue its run, tagged
with the build id and the commit; the same commit and parameters queue one run, however
often CI retries."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.ci import repository
from gyre.errors import InvalidParameter
from gyre.pipelines import submission
from gyre.pipelines.submission import Submitted
from gyre.store import Store


@dataclass(frozen=True)
class CiSubmission:
    submitted: Submitted
    commit: str
    dirty: list[str]  # uncommitted files it was submitted with (--allow-dirty)
    build_id: str


def submit(
    store: Store,
    reference: str,
    build_id: str,
    *,
    params: dict[str, Any] | None = None,
    allow_dirty: bool = False,
    name: str | None = None,
) -> CiSubmission:
    if not build_id.strip():
        raise InvalidParameter(
            "The build id is empty. Pass the CI system's build number, e.g. "
            "--build-id $GITHUB_RUN_NUMBER or --build-id $(date +%s).",
            field="build_id",
        )
    file = Path(reference.rpartition(":")[0] or reference).resolve()
    repo = repository.root(file.parent)
    commit = repository.head(repo)
    dirty = repository.dirty_files(repo)
    if dirty and not allow_dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise InvalidParameter(
            f"The work tree has uncommitted changes ({shown}); a submitted run must be "
            "reproducible from its commit. Commit them, or pass --allow-dirty (the run is then "
            "tagged dirty=true).",
            field="allow_dirty",
        )
    definition = submission.publish(
        store,
        reference,
        name,
        description=f"commit {commit[:12]}" + (" (dirty)" if dirty else ""),
        git_commit=commit,
    )
    tags = {"build": build_id, "commit": commit, **({"dirty": "true"} if dirty else {})}
    key = _idempotency_key(definition.name, definition.snapshot_digest, commit, params or {})
    submitted = submission.submit(
        store,
        definition.name,
        definition.version,
        params=params,
        tags=tags,
        idempotency_key=key,
    )
    return CiSubmission(submitted, commit, dirty, build_id)


def _idempotency_key(name: str, snapshot: str, commit: str, params: dict[str, Any]) -> str:
    body = json.dumps([name, snapshot, commit, params], sort_keys=True, default=str)
    return "ci:" + hashlib.sha256(body.encode()).hexdigest()
