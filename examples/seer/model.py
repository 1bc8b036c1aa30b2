"""Seer's network: a small CNN for 28x28 grey images. Shipped inside the model artifact too,
so the scoring code builds the same class it was trained as."""

from __future__ import annotations

from typing import Any

IMAGE_SIZE = 28


def build(classes: int) -> Any:
    import torch
    from torch import nn

    class SeerNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 3),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )
            self.head = nn.Sequential(
                nn.Flatten(), nn.Linear(32 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, classes)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x))

    return SeerNet()
