"""The blob store contract, run against the local store and the fsspec store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gyre.errors import CorruptBlob
from gyre.store.blobs import BlobStore, FsspecBlobStore, LocalBlobStore


@pytest.fixture(params=["local", "fsspec"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return FsspecBlobStore(f"file://{tmp_path / 'fsblobs'}")


def test_the_same_bytes_are_stored_once(blobs: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 5000)
    digest, size = blobs.put_file(source)
    assert (digest, size) == (blobs.put_file(source)[0], 5000)
    assert blobs.put_bytes(b"x" * 5000) == digest
    assert list(blobs.digests()) == [digest]


def test_exists_implies_a_verified_read(blobs: BlobStore, tmp_path: Path) -> None:
    digest = blobs.put_bytes(b"hello")
    assert blobs.exists(digest)
    assert blobs.read_bytes(digest) == b"hello"
    blobs.fetch(digest, tmp_path / "out" / "hello.txt")
    assert (tmp_path / "out" / "hello.txt").read_bytes() == b"hello"


def test_a_missing_blob_is_reported_with_the_fix(blobs: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(CorruptBlob, match="is missing.*re-run the step"):
        blobs.read_bytes("0" * 64)
    with pytest.raises(CorruptBlob):
        blobs.fetch("0" * 64, tmp_path / "x")


def test_restore_puts_back_only_the_same_bytes_and_reports_the_actual_digest(
    blobs: BlobStore, tmp_path: Path
) -> None:
    digest = blobs.put_bytes(b"hello")
    blobs.delete(digest)
    assert blobs.actual_digest(digest) is None
    wrong = tmp_path / "wrong.txt"
    wrong.write_bytes(b"other")
    with pytest.raises(CorruptBlob, match="not a copy of the blob"):
        blobs.restore(digest, wrong)
    assert not blobs.exists(digest)
    right = tmp_path / "right.txt"
    right.write_bytes(b"hello")
    blobs.restore(digest, right)
    assert blobs.actual_digest(digest) == digest
    assert blobs.read_bytes(digest) == b"hello"
    assert [name for name, _ in blobs.temporaries()] == []  # nothing half-written is left


def test_a_blob_whose_bytes_changed_is_detected_and_not_copied(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    digest = blobs.put_bytes(b"original")
    path = blobs.path(digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(CorruptBlob, match="does not match its digest"):
        blobs.read_bytes(digest)
    with pytest.raises(CorruptBlob):
        blobs.fetch(digest, tmp_path / "copy")
    assert not (tmp_path / "copy").exists(), "no half-written copy is left behind"


def test_blobs_are_read_only_files_and_no_temp_file_is_left(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    digest = blobs.put_bytes(b"data")
    assert blobs.path(digest).stat().st_mode & 0o222 == 0
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (5 << 20))
    blobs.put_file(big)
    leftovers = [
        p
        for p in (tmp_path / "blobs").rglob("*")
        if p.is_file() and (p.name.startswith(".") or p.parent.name == "tmp")
    ]
    assert leftovers == []


def _large(tmp_path: Path, size: int = 150 << 20) -> tuple[Path, str]:
    """A file over the small-blob limit and several kernel-copy pieces long."""
    import hashlib

    data = os.urandom(1 << 20) * (size >> 20)
    source = tmp_path / "large.bin"
    source.write_bytes(data)
    return source, hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel-copy", "streamed"])
def test_a_large_file_is_stored_whole_with_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: bool
) -> None:
    import errno

    if not kernel:  # a file system the kernel cannot copy between: the streaming loop serves

        def unsupported(*_args: object) -> int:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", unsupported)
    source, expected = _large(tmp_path)
    store = LocalBlobStore(tmp_path / "blobs")
    assert store.put_file(source) == (expected, source.stat().st_size)
    assert store.path(expected).read_bytes() == source.read_bytes()
    assert store.put_file(source, sync=False) == (expected, source.stat().st_size)  # once
    assert list(store.digests()) == [expected]
    assert not any((tmp_path / "blobs" / "tmp").iterdir())


def test_a_large_file_that_changes_while_added_is_refused_and_nothing_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = _large(tmp_path)
    copy = os.copy_file_range
    calls = []

    def copy_while_someone_writes(*args: int) -> int:
        calls.append(args)
        if len(calls) == 2:
            with open(source, "r+b") as writer:  # another process edits the file mid-add
                writer.write(b"edited")
        return copy(*args)

    monkeypatch.setattr(os, "copy_file_range", copy_while_someone_writes)
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(CorruptBlob, match=f"{source} changed while it was being added"):
        store.put_file(source)
    assert list(store.digests()) == []
    assert not any((tmp_path / "blobs" / "tmp").iterdir())
