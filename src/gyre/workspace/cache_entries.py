"""The workspace's local copies of stored folders and files, as ``gyre fsck`` sees them.

Entries (see :mod:`gyre.store.local_copies`):

- ``cache/dirs/<manifest digest>/...``: a stored folder (step output, dataset, model);
- ``cache/files/<digest>/<name>``: a stored file;
- ``cache/tables/<digest>/<name>.parquet``: a table dataset as one Parquet file;
- ``snapshots/<manifest digest>/...``: a published pipeline's code (plus a marker file).

Leftovers are staging folders (``.<name>.<pid>``) of a process that is gone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gyre.tracking.liveness import process_exists

EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Entry:
    path: Path
    kind: str  # dirs | files | tables | snapshots
    digest: str  # the manifest (dirs, snapshots) or the file's blob (files, tables)

    def expected(self, listed: dict[str, str] | None) -> dict[str, str] | None:
        """relative path -> digest the entry must hold; None when that cannot be known
        (the folder's manifest is unreadable)."""
        if self.kind in ("files", "tables"):
            names = [p.name for p in self.path.iterdir()] if self.path.is_dir() else []
            return {names[0] if len(names) == 1 else "?": self.digest}
        if listed is None:
            return None
        if self.kind == "snapshots":
            from gyre.pipelines.submission import SNAPSHOT_MARKER

            return {**listed, SNAPSHOT_MARKER: EMPTY_DIGEST}
        return listed


def entries(local_dir: Path) -> Iterator[Entry]:
    for kind, folder in _folders(local_dir):
        for child in sorted(folder.iterdir()) if folder.is_dir() else ():
            if child.is_dir() and len(child.name) == 64 and not child.name.startswith("."):
                yield Entry(child, kind, child.name)


def leftovers(local_dir: Path) -> Iterator[Path]:
    """Staging folders and stamps of copies that a process now gone did not finish."""
    for _kind, folder in _folders(local_dir):
        for child in sorted(folder.iterdir()) if folder.is_dir() else ():
            if not child.name.startswith("."):
                continue
            if child.name.endswith(".stamp"):
                if not (folder / child.name[1:].removesuffix(".stamp")).exists():
                    yield child  # the stamp of a copy that was removed
                continue
            pid = child.name.rsplit(".", 1)[-1]
            if pid.isdigit() and not process_exists(int(pid)):
                yield child


def _folders(local_dir: Path) -> list[tuple[str, Path]]:
    cache = local_dir / "cache"
    return [
        ("dirs", cache / "dirs"),
        ("files", cache / "files"),
        ("tables", cache / "tables"),
        ("snapshots", local_dir / "snapshots"),
    ]
