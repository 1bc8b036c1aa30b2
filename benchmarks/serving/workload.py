"""The two models under test, trained once per run on synthetic data, and the rows sent to them.

- ``logreg``: a logistic regression, cheap to evaluate, so the server's own overhead dominates.
- ``forest``: a 100-tree random forest, where the model's own time dominates.

Both take 20 numeric features named ``f0`` .. ``f19``. The request rows are 100 held-out rows,
rounded to 6 decimals so every tool receives the very same numbers; the 1-row request is the
first of them. Each model is also saved with joblib for the peers (their environments have the
same scikit-learn as gyre's, see ``venvs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

FEATURES = [f"f{i}" for i in range(20)]
MODELS = ("logreg", "forest")
REQUEST_ROWS = 100
SEED = 0


@dataclass(frozen=True)
class Workload:
    name: str
    model: Any
    joblib_path: Path
    rows: list[list[float]]  # the 100-row request; the 1-row request is rows[:1]
    expected: list[int]  # the model's predictions for ``rows``, made here

    def request(self, count: int) -> list[list[float]]:
        return self.rows[:count]


def train(names: list[str], folder: Path) -> list[Workload]:
    import joblib
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    features, labels = make_classification(
        n_samples=10_000 + REQUEST_ROWS,
        n_features=len(FEATURES),
        n_informative=10,
        random_state=SEED,
    )
    train_x, train_y = features[:-REQUEST_ROWS], labels[:-REQUEST_ROWS]
    rows = np.round(features[-REQUEST_ROWS:], 6)
    makers = {
        "logreg": lambda: LogisticRegression(max_iter=1_000),
        "forest": lambda: RandomForestClassifier(n_estimators=100, random_state=SEED),
    }
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        model = makers[name]().fit(train_x, train_y)
        path = folder / f"{name}.joblib"
        joblib.dump(model, path)
        expected = [int(p) for p in model.predict(rows)]
        out.append(Workload(name, model, path, rows.tolist(), expected))
    return out


def records(rows: list[list[float]]) -> list[dict[str, float]]:
    return [dict(zip(FEATURES, row, strict=True)) for row in rows]
