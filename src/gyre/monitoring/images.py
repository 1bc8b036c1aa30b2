"""Per-image statistics, so that images drift like numeric features.

An image becomes seven numbers: its width and height in pixels, its brightness (mean luma,
0 to 1, ITU-R 601 weights), its contrast (the standard deviation of luma) and the mean of each
RGB channel (0 to 1). Images come from labeled image folders (``<label>/<file>``) or from
scoring requests (a base64 text, with or without a ``data:`` URL prefix, or raw bytes). Images
larger than ``MAX_SIDE`` are reduced before the pixel statistics (sizes stay exact), so a
folder of photos costs about the same per image as a folder of thumbnails.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

STATISTICS = ("width", "height", "brightness", "contrast", "red", "green", "blue")
MAX_SIDE = 256
# The first bytes of the formats Pillow reads that scoring requests carry.
MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")
LUMA = np.array([299, 587, 114], dtype=np.int64)  # ITU-R 601, in thousandths
SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


def decode(value: Any) -> bytes | None:
    """The image bytes of a request value (base64 text, a data URL, bytes); None if none."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    elif isinstance(value, str):
        text = value.split(",", 1)[1] if value.startswith("data:") else value
        try:
            data = base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            return None
    else:
        return None
    return data if data.startswith(MAGIC) else None


def looks_like_image(value: Any) -> bool:
    return decode(value) is not None


def statistics(data: bytes) -> tuple[float, ...] | None:
    """The seven statistics of one encoded image; None when it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            factor = max(1, max(width, height) // MAX_SIDE)
            if factor > 1:
                image.draft("RGB", (width // factor, height // factor))
            rgb = image.convert("RGB")
            if factor > 1 and max(rgb.size) > MAX_SIDE:
                rgb = rgb.reduce(max(1, max(rgb.size) // MAX_SIDE))
            pixels = np.asarray(rgb, dtype=np.int64).reshape(-1, 3)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    # In integers until the end, so that a solid image has a contrast of exactly 0 and white
    # a brightness of exactly 1 (float luma gave rounding noise that KS then ranked).
    count = pixels.shape[0]
    channels = pixels.sum(axis=0)
    luma = pixels @ LUMA  # 0 .. 255,000
    mean = int(luma.sum()) / count
    spread = float(np.sqrt(max(0.0, float(np.mean((luma - mean) ** 2)))))
    return (
        float(width),
        float(height),
        mean / 255_000,
        spread / 255_000,
        int(channels[0]) / (255 * count),
        int(channels[1]) / (255 * count),
        int(channels[2]) / (255 * count),
    )


def columns(images: Iterable[bytes | None]) -> tuple[dict[str, Any], int, int]:
    """({statistic: float64 array}, how many images could not be decoded, how many were
    missing: None, a request without its image)."""
    rows: list[tuple[float, ...]] = []
    failed = missing = 0
    for data in images:
        if data is None:
            missing += 1
            continue
        values = statistics(data)
        if values is None:
            failed += 1
        else:
            rows.append(values)
    matrix = np.array(rows, dtype=np.float64).reshape(-1, len(STATISTICS))
    return {name: matrix[:, i] for i, name in enumerate(STATISTICS)}, failed, missing


def folder_files(root: Path, relative_paths: Iterable[str]) -> tuple[list[Path], list[str]]:
    """(image paths, their labels) of a labeled image folder's ``<label>/<file>`` entries."""
    paths, labels = [], []
    for rel in sorted(relative_paths):
        if "/" not in rel or Path(rel).suffix.lower() not in SUFFIXES:
            continue  # a notes.txt beside the photos is not a labeled image
        paths.append(root / rel)
        labels.append(rel.split("/", 1)[0])
    return paths, labels
