"""Quickstart: prepare data → train a logistic regression → evaluate, with step reuse.

    gyre run examples/quickstart/pipeline.py:quickstart --param epochs=30

Pure Python and numpy, so it runs anywhere in seconds. The Seer example shows the same loop
with PyTorch on images.
"""

from __future__ import annotations

import json

import gyre
from gyre import Dir, step


@step
def prepare(samples: int = 400, seed: int = 7) -> Dir:
    """Two noisy clusters in 2-D, standardized, split into train and validation."""
    import random

    from features import standardize

    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(samples):
        label = rng.random() < 0.5
        center = (1.5, 1.0) if label else (-1.0, -1.5)
        rows.append([rng.gauss(center[0], 1.2), rng.gauss(center[1], 1.2)])
        labels.append(int(label))
    rows = standardize(rows)
    cut = int(samples * 0.8)
    out = gyre.output_dir("data")
    for name, part in (("train", slice(0, cut)), ("val", slice(cut, None))):
        (out / f"{name}.json").write_text(json.dumps({"x": rows[part], "y": labels[part]}))
    print(f"prepared {samples} samples ({cut} train)")
    return out


@step
def train(data: Dir, epochs: int = 20, lr: float = 0.5) -> Dir:
    """Gradient descent on the logistic loss, logging loss and accuracy per epoch."""
    import numpy as np

    split = {n: json.loads((data / f"{n}.json").read_text()) for n in ("train", "val")}
    x, y = np.array(split["train"]["x"]), np.array(split["train"]["y"])
    xv, yv = np.array(split["val"]["x"]), np.array(split["val"]["y"])
    w, b = np.zeros(x.shape[1]), 0.0
    for epoch in range(epochs):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= lr * x.T @ (p - y) / len(y)
        b -= lr * float(np.mean(p - y))
        loss = float(-np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9)))
        val_acc = float(np.mean(((xv @ w + b) > 0) == yv))
        gyre.log_metrics({"loss": loss, "val_accuracy": val_acc}, step=epoch)
    print(f"trained {epochs} epochs: loss {loss:.3f}, val_accuracy {val_acc:.3f}")
    out = gyre.output_dir("model")
    (out / "model.json").write_text(json.dumps({"w": w.tolist(), "b": b}))
    return out


@step
def evaluate(model: Dir, data: Dir) -> dict:
    """Accuracy of the trained model on the validation split."""
    params = json.loads((model / "model.json").read_text())
    val = json.loads((data / "val.json").read_text())
    hits = 0
    for row, label in zip(val["x"], val["y"], strict=True):
        score = sum(w * v for w, v in zip(params["w"], row, strict=True)) + params["b"]
        hits += int((score > 0) == bool(label))
    accuracy = hits / len(val["y"])
    gyre.log_metric("accuracy", accuracy)
    print(f"validation accuracy {accuracy:.3f}")
    return {"accuracy": accuracy}


@gyre.pipeline
def quickstart(samples: int = 400, epochs: int = 20, lr: float = 0.5):
    data = prepare(samples=samples)
    model = train(data, epochs=epochs, lr=lr)
    evaluate(model, data)
