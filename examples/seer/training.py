"""What the steps and the scripts share: load a labeled image folder, train, pick the best."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import gyre

VAL_FRACTION = 0.15


def load_folder(folder: Path) -> tuple[Any, Any, list[str]]:
    """Images of ``<label>/*.png`` as a float array (n, 28, 28), labels and the label names."""
    import numpy as np
    from model import IMAGE_SIZE
    from PIL import Image

    labels = sorted(p.name for p in folder.iterdir() if p.is_dir())
    images, targets = [], []
    for index, label in enumerate(labels):
        for path in sorted((folder / label).glob("*.png")):
            image = Image.open(path).convert("L").resize((IMAGE_SIZE, IMAGE_SIZE))
            images.append(np.asarray(image, dtype=np.float32) / 255.0)
            targets.append(index)
    return np.stack(images), np.array(targets, dtype=np.int64), labels


def prepare(images: Path, out: Path, seed: int = 0) -> None:
    """Split into train and validation (stratified) and save arrays: the talk's parse.py."""
    import numpy as np

    x, y, labels = load_folder(images)
    rng = np.random.default_rng(seed)
    val = np.zeros(len(y), dtype=bool)
    for label in range(len(labels)):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        val[members[: round(len(members) * VAL_FRACTION)]] = True
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / "data.npz", x_train=x[~val], y_train=y[~val], x_val=x[val], y_val=y[val]
    )
    (out / "labels.json").write_text(json.dumps(labels))
    counts = {label: int((y[~val] == i).sum()) for i, label in enumerate(labels)}
    print(f"prepared {int((~val).sum())} training and {int(val.sum())} validation images: {counts}")


def train(
    data: Path, out: Path, epochs: int, batch: int, lr: float, seed: int = 0
) -> dict[str, Any]:
    """Train the CNN, log loss and accuracy per epoch, keep a checkpoint per epoch."""
    import numpy as np
    import torch
    from model import build
    from torch import nn

    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gyre.set_tag("device", device)
    arrays = np.load(data / "data.npz")
    labels = json.loads((data / "labels.json").read_text())
    x_train = torch.from_numpy(arrays["x_train"][:, None]).to(device)
    y_train = torch.from_numpy(arrays["y_train"]).to(device)
    x_val = torch.from_numpy(arrays["x_val"][:, None]).to(device)
    y_val = torch.from_numpy(arrays["y_val"]).to(device)
    model = build(len(labels)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    out.mkdir(parents=True, exist_ok=True)
    history = []
    for epoch in range(epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(y_train), device=device)
        total, correct, loss_sum = 0, 0, 0.0
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            optimizer.zero_grad()
            logits = model(x_train[index])
            loss = loss_fn(logits, y_train[index])
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(index)
            correct += int((logits.argmax(1) == y_train[index]).sum())
            total += len(index)
        model.eval()
        with torch.no_grad():
            val_logits = model(x_val)
            val_loss = float(loss_fn(val_logits, y_val))
            val_accuracy = float((val_logits.argmax(1) == y_val).float().mean())
        seconds = time.perf_counter() - started
        gyre.log_metrics(
            {
                "loss": loss_sum / total,
                "accuracy": correct / total,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "epoch_seconds": seconds,
            },
            step=epoch,
        )
        torch.save(model.state_dict(), out / f"checkpoint-{epoch:03d}.pt")
        history.append({"epoch": epoch, "val_accuracy": val_accuracy, "val_loss": val_loss})
        print(
            f"epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.3f} val_accuracy {val_accuracy:.3f} ({seconds:.2f} s, {device})"
        )
    (out / "history.json").write_text(json.dumps(history))
    (out / "labels.json").write_text(json.dumps(labels))
    return {"device": device, "epochs": epochs}


def package(trained: Path, out: Path) -> dict[str, Any]:
    """The best checkpoint by validation accuracy, with score.py and model.py: the artifact."""
    import shutil

    history = json.loads((trained / "history.json").read_text())
    best = max(history, key=lambda h: (h["val_accuracy"], -h["val_loss"]))
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained / f"checkpoint-{best['epoch']:03d}.pt", out / "weights.pt")
    shutil.copy(trained / "labels.json", out / "labels.json")
    here = Path(__file__).parent
    shutil.copy(here / "score.py", out / "score.py")
    shutil.copy(here / "model.py", out / "model.py")
    return best
