"""The two inputs, generated once into ``.bench-cache/data/`` and reused by later runs.

- a file set: ``count`` files of ``file_kb`` KiB of random bytes, 100 files per sub-folder;
- a single large file of ``size_mb`` MiB of random bytes.

Sizes are binary: 1 KB = 1,024 bytes and 1 MB = 2**20 bytes, here and in the report.

Bytes come from a seeded generator, so a regenerated input has the same content. A stamp file
written last marks an input as complete: an interrupted generation is redone.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".bench-cache" / "data"
FILES_PER_FOLDER = 100
CHUNK = 1 << 20


@dataclass(frozen=True)
class Input:
    """One thing to add: a folder or a single file, and its size."""

    key: str  # "small" or "large"
    label: str  # what the table calls it
    path: Path
    files: int
    size: int


def file_set(count: int, file_kb: int) -> Input:
    """A folder of ``count`` random files of ``file_kb`` KiB each (generated on first use)."""
    root = CACHE / f"files-{count}x{file_kb}KB"
    size = file_kb * 1024
    if not _stamp(root).exists():
        print(f"  generating {count:,} files of {file_kb} KB into {root} ...", flush=True)
        shutil.rmtree(root, ignore_errors=True)
        rng = random.Random(f"{count}x{file_kb}")
        for index in range(count):
            folder = root / f"part-{index // FILES_PER_FOLDER:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"file-{index:05d}.bin").write_bytes(rng.randbytes(size))
        _stamp(root).write_text("complete\n")
    return Input("small", f"{count:,} files x {file_kb} KB", root, count, count * size)


def large_file(size_mb: int) -> Input:
    """One random file of ``size_mb`` MB (generated on first use)."""
    path = CACHE / f"large-{size_mb}MB" / "large.bin"
    size = size_mb * CHUNK
    if not _stamp(path.parent).exists():
        print(f"  generating a {size_mb} MB file at {path} ...", flush=True)
        shutil.rmtree(path.parent, ignore_errors=True)
        path.parent.mkdir(parents=True)
        rng = random.Random(f"large-{size_mb}")
        with open(path, "wb") as out:
            for _ in range(size_mb):
                out.write(rng.randbytes(CHUNK))
        _stamp(path.parent).write_text("complete\n")
    return Input("large", f"1 file x {size_mb:,} MB", path, 1, size)


def _stamp(folder: Path) -> Path:
    # Beside the folder, not in it: the stamp must not become part of the data being added.
    return folder.with_name(folder.name + ".complete")
