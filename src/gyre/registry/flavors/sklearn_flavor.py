"""scikit-learn models, saved with skops (not bare pickle) and loaded only with trusted types."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from gyre.errors import UntrustedContent

FILE = "model.skops"


def detect(obj: Any) -> bool:
    return type(obj).__module__.startswith("sklearn")


def save(model: Any, dest: Path, **_: Any) -> dict[str, Any]:
    import skops.io as sio

    dest.mkdir(parents=True, exist_ok=True)
    sio.dump(model, dest / FILE)
    return {"file": FILE}


NUMERIC_TYPES = ("float64", "float32", "int64", "int32", "bool")


class _Estimator:
    def __init__(self, model: Any, columns: list[str] | None, tabular: bool = False) -> None:
        self.model = model
        self.columns = columns
        # Columns that are not all numbers (a pipeline with an encoder) go in as a DataFrame.
        self.tabular = tabular
        # Fitted on a DataFrame, the model warns on every array; the columns are put in the
        # order it was fitted with (the signature's), so the warning says nothing here.
        names = getattr(model, "feature_names_in_", None)
        self.quiet = names is not None and columns is not None and list(names) == columns

    def predict(self, batch: Any) -> Any:
        import numpy as np

        if isinstance(batch, list) and batch and isinstance(batch[0], dict):
            columns = self.columns or list(batch[0])
            if self.tabular:
                import pandas as pd

                batch = pd.DataFrame.from_records(batch, columns=columns)
            else:
                batch = np.array([[row[c] for c in columns] for row in batch], dtype=float)
        if not self.quiet:
            return self.model.predict(batch)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "X does not have valid feature names")
            return self.model.predict(batch)


def load(path: Path, meta: dict[str, Any]) -> Any:
    import skops.io as sio

    file = path / meta.get("file", FILE)
    untrusted = sio.get_untrusted_types(file=file)
    unexpected = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
    if unexpected and not meta.get("trusted"):
        raise UntrustedContent(
            f"The model file holds types that skops does not trust: {', '.join(unexpected)}. "
            "If you trust where it came from, register it again with trusted=True."
        )
    model = sio.load(file, trusted=untrusted)
    signature = meta.get("signature") or {}
    inputs = signature.get("inputs", [])
    columns = [i["name"] for i in inputs] or None
    tabular = any(i.get("type") not in NUMERIC_TYPES for i in inputs if not i.get("shape"))
    return _Estimator(model, columns, tabular)
