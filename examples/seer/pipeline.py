"""Seer's training pipeline with the @step / @pipeline DSL: prepare → train → register.

    gyre run examples/seer/pipeline.py:seer --param epochs=20 --param batch=10 --tag build=42

torch is imported inside the steps (in training.py's functions), so planning the pipeline
never imports it.
"""

from __future__ import annotations

import training

import gyre
from gyre import Dataset, Dir, step


@step
def prepare(images: Dir, seed: int = 0) -> Dir:
    out = gyre.output_dir("data")
    training.prepare(images, out, seed)
    return out


@step(retries=1)
def train(data: Dir, epochs: int = 5, batch: int = 32, lr: float = 0.001) -> Dir:
    out = gyre.output_dir("checkpoints")
    training.train(data, out, epochs, batch, lr)
    return out


@step
def register(trained: Dir) -> dict:
    folder = gyre.output_dir("model")
    best = training.package(trained, folder)
    version = gyre.register_model(
        "seer",
        folder,
        flavor="python",
        signature={"inputs": [{"name": "image", "type": "image"}]},
        metrics={"val_accuracy": best["val_accuracy"], "best_epoch": best["epoch"]},
    )
    print(
        f"registered {version.ref} (best epoch {best['epoch'] + 1}, val_accuracy {best['val_accuracy']:.3f})"
    )
    return {"model": version.name, "version": version.version}


@gyre.pipeline
def seer(
    images: Dataset = Dataset("products"), epochs: int = 5, batch: int = 32, lr: float = 0.001
):
    register(train(prepare(images), epochs=epochs, batch=batch, lr=lr))
