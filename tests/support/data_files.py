"""Files on disk as users have them: text files and folders of labeled images."""

from __future__ import annotations

from pathlib import Path


def make_images(root: Path, counts: dict[str, int], shade: int = 0) -> Path:
    """``root/<label>/<i>.png``: ``counts[label]`` small PNGs per label (``shade`` varies them)."""
    from PIL import Image

    for label, count in counts.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (6, 4), (i * 7 % 255, shade, 90)).save(root / label / f"{i}.png")
    return root


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``, making its folders first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
