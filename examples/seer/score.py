"""Seer's scoring module, the talk's score.py contract: ``init()`` loads, ``run(data)`` scores.

``data`` is ``{"image": "<base64 PNG or JPEG>"}`` or a list of them; each answer is the
predicted class and the score of every class.
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import Any

MODEL: Any = None
LABELS: list[str] = []


def init() -> None:
    global MODEL, LABELS  # noqa: PLW0603 - the score.py contract keeps state in module globals
    import torch
    from model import build

    folder = Path(os.environ["GYRE_MODEL_DIR"])
    LABELS = json.loads((folder / "labels.json").read_text())
    MODEL = build(len(LABELS))
    MODEL.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
    MODEL.eval()


def _pixels(encoded: str) -> Any:
    import numpy as np
    from model import IMAGE_SIZE
    from PIL import Image

    image = (
        Image.open(io.BytesIO(base64.b64decode(encoded)))
        .convert("L")
        .resize((IMAGE_SIZE, IMAGE_SIZE))
    )
    return np.asarray(image, dtype=np.float32) / 255.0


def run(data: Any) -> Any:
    import numpy as np
    import torch

    items = data if isinstance(data, list) else [data]
    batch = torch.from_numpy(np.stack([_pixels(item["image"]) for item in items])[:, None])
    with torch.no_grad():
        scores = torch.softmax(MODEL(batch), dim=1).numpy()
    answers = [
        {
            "class": LABELS[int(row.argmax())],
            "scores": {label: round(float(p), 4) for label, p in zip(LABELS, row, strict=True)},
        }
        for row in scores
    ]
    return answers if isinstance(data, list) else answers[0]
