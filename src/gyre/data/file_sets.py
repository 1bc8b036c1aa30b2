"""File sets: a directory tree stored as blobs plus a manifest of path → (sha256, size).

The manifest has the same form as a step's ``Dir`` output, so a dataset version can be handed
to a step as a directory without conversion. Files are streamed (constant memory), hashed and
copied in parallel threads (hashlib and file I/O release the GIL), and made durable with one
filesystem sync before the version is committed. A stat cache skips unchanged files.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter
from gyre.store.blobs import BlobStore, LocalBlobStore
from gyre.store.stat_cache import StatCache

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
Progress = Callable[[int, int], None]
"""Called with (bytes, files) done since the last call."""


@dataclass(frozen=True)
class FileSet:
    manifest_digest: str
    files: dict[str, list[Any]]
    size: int
    layout: str


def _walk(root: Path) -> list[tuple[str, Path]]:
    """(relative path, real path) of every file; symlinks out of ``root`` are refused."""
    real_root = root.resolve()
    found: list[tuple[str, Path]] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except PermissionError:
            raise InvalidParameter(
                f"The folder {folder} cannot be read (permission denied). Give this user read "
                f"access (chmod -R u+rX {folder}) or leave it out."
            ) from None
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(real_root):
                    raise InvalidParameter(
                        f"{path} is a symlink to {target}, outside the folder being added; "
                        "gyre does not follow it. Copy the file into the folder or remove the link."
                    )
                if target.is_dir():
                    continue  # its files are reached through the real folder
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif entry.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def detect_layout(relative_paths: list[str]) -> str:
    """``labeled-images`` for ``<label>/<image>`` trees (folders as labels), else ``files``."""
    labels = set()
    images = 0
    for rel in relative_paths:
        parts = rel.split("/")
        if len(parts) == 2 and Path(parts[1]).suffix.lower() in IMAGE_SUFFIXES:
            images += 1
            labels.add(parts[0])
    if len(labels) >= 2 and images >= 0.9 * len(relative_paths):
        return "labeled-images"
    return "files"


def add_tree(
    root: Path,
    blobs: BlobStore,
    cache: StatCache | None,
    progress: Progress | None = None,
    workers: int = 4,
    files: list[tuple[str, Path]] | None = None,
    link: bool = False,
) -> FileSet:
    """Store every file under ``root`` (or just ``files``); return the stored manifest.

    Files whose size, modification time and inode match the stat cache, and whose blob is
    stored, are not read at all; the others are read once (hashed while stored) by a few
    threads. ``link``: hard-link files into a local blob store instead of copying them (files
    on another file system are copied).
    """
    if not root.exists():
        raise InvalidParameter(f"{root} does not exist. Give the path of a folder or a file.")
    files = files if files is not None else _walk(root)
    if not files:
        raise InvalidParameter(
            f"{root} holds no files: an empty dataset cannot be registered. Add data first."
        )
    real_root = str(root.resolve())
    if cache is not None:
        cache.preload(real_root + os.sep)
    report = progress or (lambda _b, _f: None)
    stored: dict[str, tuple[str, int]] = {}
    misses: list[tuple[str, Path, str, os.stat_result]] = []
    for rel, path in files:
        key = os.path.join(real_root, rel)
        try:
            st = path.stat()
        except PermissionError:
            raise InvalidParameter(
                f"{path} cannot be read (permission denied). Give this user read access "
                f"(chmod u+r {path}) or remove it from the folder."
            ) from None
        cached = cache.get(key, st) if cache is not None else None
        if cached is not None and blobs.exists(cached):
            stored[rel] = (cached, st.st_size)
            report(st.st_size, 1)
        else:
            misses.append((rel, path, key, st))

    def store_one(item: tuple[str, Path, str, os.stat_result]) -> tuple[str, str, int]:
        rel, path, key, st = item
        try:
            digest, size = _put(path, blobs, link)
        except PermissionError:
            raise InvalidParameter(
                f"{path} cannot be read (permission denied). Give this user read access "
                f"(chmod u+r {path}) or remove it from the folder."
            ) from None
        if cache is not None:
            cache.put(key, st, digest)  # flushed every few hundred files: an interrupted
        report(size, 1)  # add's re-run skips what was stored before the interruption
        return rel, digest, size

    if misses:
        if len(misses) == 1 or workers <= 1:
            results = [store_one(item) for item in misses]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(store_one, misses))
        stored.update({rel: (digest, size) for rel, digest, size in results})
    if cache is not None:
        cache.flush()
    manifest = {"files": {rel: [d, s] for rel, (d, s) in sorted(stored.items())}}
    data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    manifest_digest = blobs.put_bytes(data, sync=False)
    blobs.sync()
    total = sum(size for _, size in stored.values())
    return FileSet(manifest_digest, manifest["files"], total, detect_layout(sorted(stored)))


def _put(path: Path, blobs: BlobStore, link: bool) -> tuple[str, int]:
    """One read: hashed while copied (the copy is dropped when the blob is already stored), or
    hashed and hard-linked."""
    if link and isinstance(blobs, LocalBlobStore):
        try:
            digest, size, _linked = blobs.link_file(path)
            return digest, size
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise  # another file system, a file of another owner, too many links: copy
    return blobs.put_file(path, sync=False)


def diff_manifests(old: dict[str, list[Any]], new: dict[str, list[Any]]) -> dict[str, list[str]]:
    """Files added, removed and changed between two manifests."""
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(k for k in set(old) & set(new) if old[k][0] != new[k][0]),
    }
