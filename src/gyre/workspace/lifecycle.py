"""Creating, upgrading and cleaning a workspace (``gyre init``, ``migrate``, ``gc``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gyre.store import Store
from gyre.store.garbage import GcReport, collect


@dataclass(frozen=True)
class Initialized:
    location: str
    created: bool  # False: an existing workspace was opened
    shared: bool  # a PostgreSQL workspace: its schema was created or upgraded
    revision: str
    note: str | None = None  # e.g. GYRE_URI names another workspace than the one created


def init(path: Path | None = None) -> Initialized:
    """Create ``PATH/.gyre`` (default: the current folder; or, with ``GYRE_URI`` set and no
    path, the workspace it names: a folder, or a PostgreSQL database whose schema is made)."""
    from gyre.config import WORKSPACE_DIR, resolve
    from gyre.store import init_workspace
    from gyre.store.migrate import HEAD_REVISION, upgrade

    configured = os.environ.get("GYRE_URI")
    if configured and path is None:
        settings = resolve()
        if not settings.embedded:
            upgrade(settings.db_url)
            return Initialized("the database GYRE_URI names", True, True, HEAD_REVISION)
        existed = (settings.local_dir / "gyre.db").exists()
        init_workspace(settings.local_dir).close()
        return Initialized(str(settings.local_dir), not existed, False, HEAD_REVISION)
    note = (
        f"GYRE_URI is set; commands use that workspace, not {path}, while it is."
        if configured
        else None
    )
    target = (path or Path.cwd()) / WORKSPACE_DIR
    existed = (target / "gyre.db").exists()
    init_workspace(target).close()
    return Initialized(str(target), not existed, False, HEAD_REVISION, note)


def migrate() -> str:
    """Upgrade the configured workspace's schema; returns the revision it is at."""
    from gyre import config
    from gyre.store.migrate import HEAD_REVISION, upgrade

    upgrade(config.resolve().db_url)
    return HEAD_REVISION


def collect_garbage(store: Store, *, dry_run: bool = False) -> GcReport:
    """Remove blobs that no run, dataset version, model version or pipeline references
    (sparing blobs younger than an hour: a running step may be about to reference them)."""
    return collect(store, dry_run=dry_run)
