"""Models trained the way people train them, for the scoring contract's tests: scikit-learn on
DataFrames with their real column names (iris), names no Python identifier allows, a pipeline
with a text column, and a model fitted on a bare array (a tensor signature)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from gyre.registry import models as registry
from gyre.store import init_workspace

IRIS = load_iris(as_frame=True)
# Column names that are not Python identifiers, keywords, unicode, a comma, a wrapper's key.
ODD_NAMES = ["sepal length (cm)", "class", "1st", "naïve ü", "a,b", "records", "x-y.z"]
MODELS = ("iris@1", "odd@1", "houses@1", "tensor@1")


def odd_frame() -> pd.DataFrame:
    data = load_diabetes(as_frame=True).data.iloc[:, : len(ODD_NAMES)]
    return data.set_axis(ODD_NAMES, axis=1)


def houses() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "city": ["Taipei", "Tainan", "Taipei", "Hsinchu"] * 5,
            "rooms": [1, 2, 3, 4] * 5,
            "size m²": [30.0, 55.5, 80.0, 120.0] * 5,
        }
    )


def make_project(folder: Path) -> Path:
    """A project in ``folder`` whose workspace holds the four models of :data:`MODELS`."""
    (folder / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    store = init_workspace(folder / ".gyre")
    iris = LogisticRegression(max_iter=500).fit(IRIS.data, IRIS.target)
    registry.register_model("iris", iris, input_example=IRIS.data.head(3), store=store)
    odd = odd_frame()
    registry.register_model(
        "odd", LinearRegression().fit(odd, np.arange(len(odd))), input_example=odd, store=store
    )
    frame = houses()
    encode = ColumnTransformer(
        [("city", OneHotEncoder(handle_unknown="ignore"), ["city"])], remainder="passthrough"
    )
    pipeline = make_pipeline(encode, LinearRegression()).fit(frame, frame["size m²"] * 2)
    registry.register_model("houses", pipeline, input_example=frame.head(2), store=store)
    array = IRIS.data.to_numpy()
    tensor = LogisticRegression(max_iter=500).fit(array, IRIS.target)
    registry.register_model("tensor", tensor, input_example=array[:2], store=store)
    store.close()
    return folder
