"""Folders in the blob store: each file a blob, plus a manifest blob that lists them.

A manifest is canonical JSON ``{"files": {relative path: [digest, size]}}`` (sorted keys, no
spaces), so the same folder always gets the same manifest digest. Step outputs (``Dir``),
registered models, logged artifact folders, dataset file sets and published snapshots are all
stored this way; readers get a verified, read-only local copy (:mod:`.local_copies`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter
from gyre.store import local_copies
from gyre.store.blobs import BlobStore


@dataclass(frozen=True)
class StoredFolder:
    digest: str  # of the manifest
    size: int  # bytes of all files
    files: int


def store_folder(root: Path, blobs: BlobStore, *, where: str) -> StoredFolder:
    """Store every file under ``root``; one filesystem sync makes them durable before the
    caller commits metadata that points at the manifest.

    Raises:
        InvalidParameter: ``root`` is not a folder, or holds a symlink pointing outside it.
    """
    if not root.is_dir():
        raise InvalidParameter(f"{where}: {root} is not a directory. Give a folder's path.")
    files: dict[str, list[Any]] = {}
    total = 0
    resolved_root = root.resolve()
    for path in sorted(root.rglob("*")):
        if path.is_symlink() and not path.resolve().is_relative_to(resolved_root):
            raise InvalidParameter(
                f"{where}: {path} in the folder is a symlink pointing outside it "
                f"({path.resolve()}). Copy the file into the folder instead."
            )
        if path.is_file():
            digest, size = blobs.put_file(path, sync=False)
            files[path.relative_to(root).as_posix()] = [digest, size]
            total += size
    digest = blobs.put_bytes(manifest_bytes(files), sync=False)
    blobs.sync()
    return StoredFolder(digest, total, len(files))


def folder_of_blobs(blobs: BlobStore, files: dict[str, list[Any]], *, where: str) -> StoredFolder:
    """A folder made of blobs already in the store (a client uploaded them): the manifest is
    stored once every file is there and every path stays inside the folder.

    Raises:
        InvalidParameter: a path that is absolute or climbs out, a malformed entry, or a
            blob the store does not have (upload it first).
    """
    total = 0
    for rel, entry in files.items():
        parts = rel.split("/")
        if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InvalidParameter(f"{where}: {rel!r} is not a relative path inside the folder.")
        ok = isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], int)
        if not ok or not isinstance(entry[0], str) or len(entry[0]) != 64:
            raise InvalidParameter(f"{where}: {rel!r} must map to [sha256, size].")
        if not blobs.exists(entry[0]):
            raise InvalidParameter(
                f"{where}: the file {rel!r} ({entry[0][:12]}) is not in the artifact store; "
                "upload it first (PUT /api/v1/blobs/SHA256)."
            )
        total += entry[1]
    digest = blobs.put_bytes(manifest_bytes(files), sync=False)
    blobs.sync()
    return StoredFolder(digest, total, len(files))


def manifest_bytes(files: dict[str, list[Any]]) -> bytes:
    return json.dumps({"files": files}, sort_keys=True, separators=(",", ":")).encode()


def manifest(blobs: BlobStore, digest: str) -> dict[str, list[Any]]:
    """relative path -> [digest, size] of a stored folder (the manifest blob is verified)."""
    files: dict[str, list[Any]] = json.loads(blobs.read_bytes(digest))["files"]
    return files


def local_copy(blobs: BlobStore, digest: str, cache: Path) -> Path:
    """A verified, read-only local copy of a stored folder under ``cache/dirs/<digest>``,
    shared by its readers (see :mod:`.local_copies`)."""
    expected = {rel: file_digest for rel, (file_digest, _size) in manifest(blobs, digest).items()}
    return local_copies.materialize(cache / "dirs" / digest, expected, blobs)


def blobs_of(blobs: BlobStore, digest: str) -> list[str]:
    """The manifest and every file blob of a stored folder."""
    return [digest, *(d for d, _ in manifest(blobs, digest).values())]
