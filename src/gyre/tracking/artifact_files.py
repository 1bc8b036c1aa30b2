"""A run's artifacts as a tree of files, the way file-oriented clients (MLflow's artifact
repository) see them: a logged file is one path (``plots/loss.png``), a folder artifact is
expanded into the files of its manifest (``model/MLmodel``, ``model/model.pkl``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gyre.errors import NotFound
from gyre.store import runs as run_rows
from gyre.store.folders import manifest as folder_manifest

if TYPE_CHECKING:
    from pathlib import Path

    from gyre.store import Store


@dataclass(frozen=True)
class ArtifactFile:
    path: str
    size: int | None
    digest: str


def artifact_files(store: Store, run_id: str) -> list[ArtifactFile]:
    """Every file of the run's own artifacts (not its steps'), sorted by path."""
    with store.read() as tx:
        record = run_rows.get(tx, run_id)
        found = run_rows.get_artifacts(tx, record.id)
    files: list[ArtifactFile] = []
    for artifact in found:
        if artifact.materializer == "dir":
            for rel, (digest, size) in folder_manifest(store.blobs, artifact.digest).items():
                files.append(ArtifactFile(f"{artifact.name}/{rel}", int(size), str(digest)))
        else:
            files.append(ArtifactFile(artifact.name, artifact.size, artifact.digest))
    return sorted(files, key=lambda f: f.path)


def fetch_artifact_file(store: Store, run_id: str, path: str, dest: Path) -> ArtifactFile:
    """Copy the one file at ``path`` of the run's artifacts to ``dest``, verified."""
    for candidate in artifact_files(store, run_id):
        if candidate.path == path:
            store.blobs.fetch(candidate.digest, dest)
            return candidate
    raise NotFound(
        f"Run {run_id} has no artifact file {path!r}; 'gyre artifacts list {run_id}' lists "
        "what it has."
    )
