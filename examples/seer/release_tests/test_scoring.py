"""The release's test stage: the candidate, on the test endpoint, recognises held-out photos.

The release runs this folder with pytest, with ``GYRE_ENDPOINT_URL`` (the stage's endpoint) and
``GYRE_MODEL_VERSION`` (the candidate) set; ``SEER_TEST_IMAGES`` names the held-out images
(default: ``data/test`` beside the folder ``release.yaml`` is in).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import pytest

URL = os.environ.get("GYRE_ENDPOINT_URL", "")
VERSION = os.environ.get("GYRE_MODEL_VERSION", "")
IMAGES = Path(os.environ.get("SEER_TEST_IMAGES", Path.cwd().parent / "data" / "test"))

pytestmark = pytest.mark.skipif(not URL, reason="run by a release (GYRE_ENDPOINT_URL is unset)")


def score(paths: list[Path]) -> list[dict]:
    body = [{"image": base64.b64encode(p.read_bytes()).decode()} for p in paths]
    answer = httpx.post(
        f"{URL}/score", json=body, headers={"gyre-model-version": VERSION}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["gyre-model-version"] == VERSION
    return answer.json()["predictions"]


def test_every_class_is_answered_with_scores_for_all_classes() -> None:
    (prediction,) = score([next(IMAGES.glob("*/*.png"))])
    assert sorted(prediction["scores"]) == [str(n) for n in range(10)]


def test_most_held_out_photos_are_recognised() -> None:
    paths = [p for folder in sorted(IMAGES.iterdir()) for p in sorted(folder.glob("*.png"))[:5]]
    predictions = score(paths)
    right = sum(p["class"] == path.parent.name for p, path in zip(predictions, paths, strict=True))
    assert right / len(paths) >= 0.5, f"{right} of {len(paths)} recognised"
