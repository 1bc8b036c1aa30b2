"""Damaging a registered model version's stored files, as a failing disk would."""

from __future__ import annotations

import os

from gyre.store import Store


def spoil_model_files(store: Store, reference: str) -> None:
    """Overwrite a version's stored files, as a failing disk would: it can no longer load."""
    from gyre.registry.models import get
    from gyre.store.folders import manifest

    files = manifest(store.blobs, get(store, reference).digest)
    # Only the model file itself: other files (the manifest, a signature) may be the very same
    # blobs as another version's, which must stay intact.
    for _name, (digest, _size) in ((n, f) for n, f in files.items() if n.startswith("model.")):
        path = store.blobs.path(digest)  # type: ignore[attr-defined]
        os.chmod(path.parent, 0o755)
        os.chmod(path, 0o644)
        path.write_bytes(b"not a model")
