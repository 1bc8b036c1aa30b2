"""Content-addressed blob store: immutable blobs named by the sha256 of their bytes.

Every write goes to a temporary name and is renamed into place, so a reader never sees half a
blob; every read verifies the digest. Contract (both implementations, one test suite):

- ``put_*`` returns the digest; putting the same bytes twice stores them once.
- ``exists(d)`` implies ``read_bytes(d)`` and ``fetch(d, ...)`` succeed or raise ``CorruptBlob``.
- ``read_bytes``/``fetch`` raise ``CorruptBlob`` for a missing blob or one whose bytes changed.
- ``put_file(..., sync=False)`` defers durability to one ``sync()`` before metadata is committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from gyre.errors import CorruptBlob
from gyre.store.kernel_copy import KernelCopyUnsupported, copy_and_hash

CHUNK = 1 << 20
STREAM_CHUNK = 4 * CHUNK
SMALL = 4 * CHUNK


class BlobStore(Protocol):
    url: str

    def put_file(self, path: Path, *, sync: bool = True) -> tuple[str, int]: ...
    def put_stream(self, source: Any, *, sync: bool = True) -> tuple[str, int]: ...
    def put_bytes(self, data: bytes, *, sync: bool = True) -> str: ...
    def exists(self, digest: str) -> bool: ...
    def read_bytes(self, digest: str) -> bytes: ...
    def fetch(self, digest: str, dest: Path) -> None: ...
    def delete(self, digest: str) -> None: ...
    def digests(self) -> Iterator[str]: ...
    def actual_digest(self, digest: str) -> str | None: ...
    def temporaries(self) -> Iterator[tuple[str, float]]: ...
    def remove_temporary(self, name: str) -> None: ...
    def restore(self, digest: str, source: Path) -> None: ...
    def sync(self) -> None: ...


def sha256_file(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _corrupt(digest: str, url: str, why: str) -> CorruptBlob:
    return CorruptBlob(
        f"Blob {digest[:12]} in {url} {why}. The artifact that points at it cannot be used; "
        "re-run the step that produced it (gyre run re-runs a step whose outputs are missing or "
        "corrupt)."
    )


@contextlib.contextmanager
def _closed_or_removed(fd: int, temp: Path) -> Iterator[None]:
    """Close ``fd`` when the block ends; if it fails, remove the half-written ``temp`` too."""
    try:
        yield
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)


class LocalBlobStore:
    """Blobs as read-only files under ``root/ab/<digest>``.

    Small blobs (up to ``SMALL``) are hashed in memory and written only when missing, through
    a temporary name in their own shard folder (spreading file creation over 256 folders);
    larger ones go through ``root/tmp``, copied by the kernel and hashed as the copy lands
    (``kernel_copy``), or streamed and hashed while copied where the kernel cannot copy.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)
        self._tmp = root / "tmp"
        self._made: set[Path] = set()

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def _folder(self, folder: Path) -> None:
        if folder not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)

    def _temp_fd(self, flags: int) -> tuple[int, Path]:
        """A new, exclusive temporary file under ``root/tmp`` (read-only once closed)."""
        self._folder(self._tmp)
        name = self._tmp / f"put-{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}"
        return os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o444), name

    def _temp(self) -> tuple[Any, Path]:
        fd, name = self._temp_fd(os.O_WRONLY)
        return os.fdopen(fd, "wb"), name

    def _move_into_place(self, temp: Path, digest: str) -> None:
        """Rename a finished temporary file to its blob name, or drop it if already stored."""
        final = self.path(digest)
        if final.exists():
            temp.unlink()
            return
        self._folder(final.parent)
        os.replace(temp, final)

    def _publish(self, temp: Path, digest: str, handle: Any, sync: bool) -> None:
        if sync and not self.path(digest).exists():
            handle.flush()
            os.fsync(handle.fileno())
        handle.close()
        self._move_into_place(temp, digest)

    def _put_small(self, data: bytes, sync: bool) -> str:
        digest = hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        if final.exists():
            return digest
        self._folder(final.parent)
        temp = final.parent / f".{digest}.{os.getpid()}.{threading.get_ident()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
        with _closed_or_removed(fd, temp):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        os.replace(temp, final)
        return digest

    def put_file(self, path: Path, *, sync: bool = True) -> tuple[str, int]:
        with open(path, "rb") as source:
            if os.fstat(source.fileno()).st_size <= SMALL:
                data = source.read()
                return self._put_small(data, sync), len(data)
            try:
                return self._put_copied_in_kernel(source.fileno(), sync, str(path))
            except KernelCopyUnsupported:
                return self.put_stream(source, sync=sync)

    def _put_copied_in_kernel(self, source: int, sync: bool, name: str) -> tuple[str, int]:
        fd, temp = self._temp_fd(os.O_RDWR)
        with _closed_or_removed(fd, temp):
            digest, size = copy_and_hash(source, fd, sync=sync, name=name)
        self._move_into_place(temp, digest)
        return digest, size

    def put_stream(self, source: Any, *, sync: bool = True) -> tuple[str, int]:
        """Store what a binary file object yields, hashing while copying (constant memory).

        Each chunk is hashed on a helper thread while the main thread writes it (both release
        the GIL), so a large file costs about one pass, not hash time plus copy time.
        """
        hasher = hashlib.sha256()
        size = 0
        handle, temp = self._temp()
        try:
            with ThreadPoolExecutor(max_workers=1) as hashing:
                while chunk := source.read(STREAM_CHUNK):
                    hashed = hashing.submit(hasher.update, chunk)
                    handle.write(chunk)
                    hashed.result()
                    size += len(chunk)
            digest = hasher.hexdigest()
            self._publish(temp, digest, handle, sync)
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise
        return digest, size

    def put_bytes(self, data: bytes, *, sync: bool = True) -> str:
        return self._put_small(data, sync)

    def link_file(self, path: Path) -> tuple[str, int, bool]:
        """Make ``path`` itself the blob, by a hard link instead of a copy: one read (to hash)
        and no write. The file becomes read-only, as every blob is, since an edit in place would
        change the blob too (reads still verify the digest and would report it).

        Returns (digest, size, linked); ``linked`` is False when the blob was already stored.
        Raises ``OSError`` (``EXDEV``) when ``path`` is on another file system.
        """
        before = os.stat(path)
        digest, size = sha256_file(path)
        final = self.path(digest)
        if final.exists():
            return digest, size, False
        self._folder(final.parent)
        os.chmod(path, before.st_mode & 0o7555)
        temp = final.parent / f".{digest}.link.{os.getpid()}.{threading.get_ident()}"
        os.link(path, temp)
        after = os.stat(temp)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            temp.unlink()
            raise CorruptBlob(
                f"{path} changed while it was being added (its size or modification time "
                "moved); add it again once nothing writes to it."
            )
        os.replace(temp, final)
        return digest, size, True

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def read_bytes(self, digest: str) -> bytes:
        try:
            data = self.path(digest).read_bytes()
        except FileNotFoundError:
            raise _corrupt(digest, self.url, "is missing") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise _corrupt(digest, self.url, "does not match its digest (its bytes changed)")
        return data

    def fetch(self, digest: str, dest: Path) -> None:
        try:
            source = open(self.path(digest), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise _corrupt(digest, self.url, "is missing") from None
        with source:
            _copy_verified(source, dest, digest, self.url)

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for folder in self.root.iterdir():
            if len(folder.name) == 2 and folder.is_dir():
                for blob in folder.iterdir():
                    if not blob.name.startswith("."):
                        yield blob.name

    def actual_digest(self, digest: str) -> str | None:
        """The sha256 of the bytes stored under ``digest`` (read in full), None if missing."""
        try:
            return sha256_file(self.path(digest))[0]
        except FileNotFoundError:
            return None

    def temporaries(self) -> Iterator[tuple[str, float]]:
        """Half-written files (name, mtime) that an interrupted write left behind."""
        if not self.root.exists():
            return
        for folder in [self._tmp, *self.root.iterdir()]:
            if folder == self._tmp or (len(folder.name) == 2 and folder.is_dir()):
                for entry in folder.iterdir() if folder.is_dir() else ():
                    if folder == self._tmp or entry.name.startswith("."):
                        with contextlib.suppress(FileNotFoundError):
                            yield str(entry.relative_to(self.root)), entry.stat().st_mtime

    def remove_temporary(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def restore(self, digest: str, source: Path) -> None:
        """Put back a missing or corrupt blob from an intact copy of its bytes (the corrupt
        file is replaced in one rename, never removed first)."""
        fd, temp = self._temp_fd(os.O_WRONLY)
        with _closed_or_removed(fd, temp), open(source, "rb") as handle:
            hasher = hashlib.sha256()
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
                os.write(fd, chunk)
            os.fsync(fd)
        if hasher.hexdigest() != digest:
            temp.unlink()
            raise _corrupt(digest, str(source), "is not a copy of the blob (other bytes)")
        self._folder(self.path(digest).parent)
        os.replace(temp, self.path(digest))

    def sync(self) -> None:
        """One sync of the blob store's filesystem (syncfs), not of the whole machine."""
        syncfs(self.root)


def syncfs(path: Path) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            os.sync()
            return
        try:
            if ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0:
                return
        except (OSError, AttributeError):
            pass
        finally:
            os.close(fd)
    os.sync()


def _copy_verified(source: Any, dest: Path, digest: str, url: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    hasher = hashlib.sha256()
    try:
        with open(temp, "wb") as out:
            while chunk := source.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
        if hasher.hexdigest() != digest:
            raise _corrupt(digest, url, "does not match its digest (its bytes changed)")
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)


class FsspecBlobStore:
    """Blobs on any fsspec filesystem (S3, GCS, Azure, a shared mount): ``url/ab/<digest>``."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self._options = dict(options or {})
        self._connect()

    def _connect(self) -> None:
        import fsspec

        self.fs, self._root = fsspec.core.url_to_fs(
            self.url, skip_instance_cache=True, **self._options
        )

    def after_fork(self) -> None:
        """Async filesystems (s3fs, gcsfs) hold an event loop that a child must not share."""
        self._connect()

    def _key(self, digest: str) -> str:
        return f"{self._root}/{digest[:2]}/{digest}"

    def _temp_key(self, digest: str) -> str:
        # Folders matter on file systems and are no-ops on object stores.
        self.fs.makedirs(f"{self._root}/tmp", exist_ok=True)
        self.fs.makedirs(f"{self._root}/{digest[:2]}", exist_ok=True)
        return f"{self._root}/tmp/{uuid.uuid4().hex}"

    def put_file(self, path: Path, *, sync: bool = True) -> tuple[str, int]:
        digest, size = sha256_file(path)
        if not self.exists(digest):
            temp = self._temp_key(digest)
            self.fs.put_file(str(path), temp)
            self.fs.mv(temp, self._key(digest))
        return digest, size

    def put_stream(self, source: Any, *, sync: bool = True) -> tuple[str, int]:
        """Spool to a local temporary file (hashing on the way), then upload it."""
        with tempfile.NamedTemporaryFile(prefix="gyre-put-") as spool:
            hasher = hashlib.sha256()
            size = 0
            while chunk := source.read(CHUNK):
                hasher.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            spool.flush()
            digest = hasher.hexdigest()
            if not self.exists(digest):
                temp = self._temp_key(digest)
                self.fs.put_file(spool.name, temp)
                self.fs.mv(temp, self._key(digest))
        return digest, size

    def put_bytes(self, data: bytes, *, sync: bool = True) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            temp = self._temp_key(digest)
            self.fs.pipe_file(temp, data)
            self.fs.mv(temp, self._key(digest))
        return digest

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._key(digest)))

    def read_bytes(self, digest: str) -> bytes:
        try:
            data: bytes = self.fs.cat_file(self._key(digest))
        except FileNotFoundError:
            raise _corrupt(digest, self.url, "is missing") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise _corrupt(digest, self.url, "does not match its digest (its bytes changed)")
        return data

    def fetch(self, digest: str, dest: Path) -> None:
        try:
            source = self.fs.open(self._key(digest), "rb")
        except FileNotFoundError:
            raise _corrupt(digest, self.url, "is missing") from None
        with source:
            _copy_verified(source, dest, digest, self.url)

    def delete(self, digest: str) -> None:
        if self.exists(digest):
            self.fs.rm_file(self._key(digest))

    def digests(self) -> Iterator[str]:
        for key in self.fs.find(self._root):
            relative = str(key)[len(self._root) :].lstrip("/")
            name = relative.rsplit("/", 1)[-1]
            if len(name) == 64 and not relative.startswith("tmp/"):
                yield name

    def actual_digest(self, digest: str) -> str | None:
        """The sha256 of the stored object (downloaded in full), None if missing."""
        hasher = hashlib.sha256()
        try:
            with self.fs.open(self._key(digest), "rb") as source:
                while chunk := source.read(STREAM_CHUNK):
                    hasher.update(chunk)
        except FileNotFoundError:
            return None
        return hasher.hexdigest()

    def temporaries(self) -> Iterator[tuple[str, float]]:
        """Uploads (name, mtime) that an interrupted write left under ``tmp/``."""
        try:
            found = self.fs.find(f"{self._root}/tmp", detail=True)
        except FileNotFoundError:
            return
        for key, info in found.items():
            modified = info.get("LastModified") or info.get("mtime") or info.get("created")
            stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified or 0)
            yield str(key)[len(self._root) :].lstrip("/"), stamp

    def remove_temporary(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(f"{self._root}/{name}")

    def restore(self, digest: str, source: Path) -> None:
        """Put back a missing or corrupt object from an intact local copy of its bytes."""
        if sha256_file(source)[0] != digest:
            raise _corrupt(digest, str(source), "is not a copy of the blob (other bytes)")
        temp = self._temp_key(digest)
        self.fs.put_file(str(source), temp)
        self.fs.mv(temp, self._key(digest))

    def sync(self) -> None:
        """Object stores make a blob durable when the upload returns."""


def open_blob_store(url: str, options: dict[str, Any] | None = None) -> BlobStore:
    if "://" not in url or url.startswith("file://"):
        return LocalBlobStore(Path(url.removeprefix("file://")))
    return FsspecBlobStore(url, options)
