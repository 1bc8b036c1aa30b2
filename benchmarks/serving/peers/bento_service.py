"""The BentoML service for the benchmark (copied next to the model and run by ``bentoml serve``).

``POST /predict`` with ``{"rows": [[20 numbers], ...]}`` answers the predicted classes. The
model is the joblib file named by ``BENCH_MODEL``. One worker, BentoML's default.
"""

from __future__ import annotations

import os

import bentoml
import joblib
import numpy as np


@bentoml.service(workers=1)
class Scorer:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL"])

    @bentoml.api
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict(rows)
