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
LUMA = np.array([0.299, 0.587, 0.114])


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
            pixels = np.asarray(rgb, dtype=np.float64).reshape(-1, 3) / 255.0
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    channels = pixels.mean(axis=0)
    luma = pixels @ LUMA
    return (
        float(width),
        float(height),
        float(luma.mean()),
        float(luma.std()),
        float(channels[0]),
        float(channels[1]),
        float(channels[2]),
    )


def columns(images: Iterable[bytes | None]) -> tuple[dict[str, Any], int]:
    """({statistic: float64 array}, how many images could not be decoded)."""
    rows: list[tuple[float, ...]] = []
    failed = 0
    for data in images:
        values = statistics(data) if data is not None else None
        if values is None:
            failed += 1
        else:
            rows.append(values)
    matrix = np.array(rows, dtype=np.float64).reshape(-1, len(STATISTICS))
    return {name: matrix[:, i] for i, name in enumerate(STATISTICS)}, failed


def folder_files(root: Path, relative_paths: Iterable[str]) -> tuple[list[Path], list[str]]:
    """(image paths, their labels) of a labeled image folder's ``<label>/<file>`` entries."""
    paths, labels = [], []
    for rel in sorted(relative_paths):
        if "/" not in rel:
            continue
        paths.append(root / rel)
        labels.append(rel.split("/", 1)[0])
    return paths, labels
