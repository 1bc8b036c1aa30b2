"""``gyre.register_model`` through a team server: the model's folder is prepared here as on a
workspace (flavor, signature, manifest), the files the artifact store lacks are sent by
content, and the server records the version (its rules, lineage and audit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gyre.store.blobs import sha256_file
from gyre.store.models import ModelVersionRecord


def register_through(
    url: str,
    name: str,
    folder: Path,
    *,
    metrics: dict[str, float] | None,
    tags: dict[str, str] | None,
    description: str | None,
    trusted: bool,
) -> ModelVersionRecord:
    from gyre.remote.client import ServerClient, ServerTarget
    from gyre.remote.credentials import token_for
    from gyre.tracking.active_run import active_run_id

    files: dict[str, list[Any]] = {}
    paths: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest, size = sha256_file(path)
            files[path.relative_to(folder).as_posix()] = [digest, size]
            paths[digest] = path
    client = ServerClient(ServerTarget(url, token_for(url)))
    try:
        lacking = client.request("POST", "/blobs", json={"digests": list(paths)})
        for digest in lacking["missing"]:
            client.request("PUT", f"/blobs/{digest}", content=paths[digest].read_bytes())
        answer = client.request(
            "POST",
            f"/models/{name}/versions",
            json={
                "files": files,
                "run_id": active_run_id(),
                "metrics": metrics or {},
                "tags": tags or {},
                "description": description,
                "trusted": trusted,
            },
        )
    finally:
        client.close()
    names = set(ModelVersionRecord.__dataclass_fields__)
    return ModelVersionRecord(**{k: v for k, v in answer.items() if k in names})
