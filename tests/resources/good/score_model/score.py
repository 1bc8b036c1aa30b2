"""The talk's score.py contract: init() loads, run(data) scores."""

import json
import os
import time
from pathlib import Path

WEIGHTS = {}


def init():
    global WEIGHTS  # noqa: PLW0603 - the score.py contract keeps state in module globals
    WEIGHTS = json.loads((Path(os.environ["GYRE_MODEL_DIR"]) / "weights.json").read_text())


def run(data):
    if isinstance(data, dict) and data.get("explode"):
        raise RuntimeError("the model cannot handle this")
    if isinstance(data, dict) and data.get("sleep"):
        time.sleep(float(data["sleep"]))
    items = data if isinstance(data, list) else [data]
    results = [
        {"label": "big" if item.get("size", 0) * WEIGHTS["w"] > 1 else "small"} for item in items
    ]
    return results if isinstance(data, list) else results[0]
