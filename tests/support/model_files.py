"""Damaging a registered model version's stored files, as a failing disk would."""

from __future__ import annotations

import os

from gyre.store import Store


def spoil_model_files(store: Store, reference: str) -> None:
    """Overwrite a version's stored files, as a failing disk would: it can no longer load."""
    from gyre.registry.models import get
    from gyre.store.folders import manifest

    for digest, _size in manifest(store.blobs, get(store, reference).digest).values():
        path = store.blobs.path(digest)  # type: ignore[attr-defined]
        os.chmod(path.parent, 0o755)
        os.chmod(path, 0o644)
        path.write_bytes(b"not a model")
