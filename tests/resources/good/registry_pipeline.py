"""Train a small scikit-learn model on a dataset and register it."""

import gyre
from gyre import Dataset, step


@step
def train(sales) -> dict:
    from sklearn.linear_model import LinearRegression

    x = [[v] for v in sales["x"].to_pylist()]
    y = sales["y"].to_pylist()
    model = LinearRegression().fit(x, y)
    version = gyre.register_model(
        "pricer",
        model,
        input_example=[{"x": 1.0}],
        metrics={"r2": model.score(x, y)},
        tags={"stage": "trained"},
    )
    return {"version": version.version}


@gyre.pipeline
def registry_pipeline(sales: Dataset = Dataset("sales")):
    train(sales)
