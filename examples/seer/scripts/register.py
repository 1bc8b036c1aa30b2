"""Registration as a script (the talk's register.py): best checkpoint → model version."""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
import training

import gyre

parser = argparse.ArgumentParser()
parser.add_argument("--source_path", required=True)
parser.add_argument("--model_name", default="seer")
args = parser.parse_args()
with tempfile.TemporaryDirectory() as folder:
    best = training.package(Path(args.source_path), Path(folder) / "model")
    version = gyre.register_model(
        args.model_name,
        Path(folder) / "model",
        flavor="python",
        signature={"inputs": [{"name": "image", "type": "image"}]},
        metrics={"val_accuracy": best["val_accuracy"], "best_epoch": best["epoch"]},
    )
print(f"registered {version.ref}")
