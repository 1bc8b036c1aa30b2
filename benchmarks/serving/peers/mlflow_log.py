"""Log a joblib-saved scikit-learn model with MLflow (run in the MLflow environment).

    python mlflow_log.py TRACKING_URI NAME MODEL.joblib

Prints the logged model's URI, which ``mlflow models serve -m`` takes. The model is logged
with a signature (20 float columns f0..f19), as MLflow recommends, and serialized with
cloudpickle: MLflow 3's default (skops) refuses the forest's tree types unless each is listed
in ``skops_trusted_types``.
"""

from __future__ import annotations

import sys

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

FEATURES = [f"f{i}" for i in range(20)]


def main(tracking_uri: str, name: str, path: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("serving-benchmark")
    model = joblib.load(path)
    example = pd.DataFrame(np.zeros((2, len(FEATURES))), columns=FEATURES)
    signature = infer_signature(example, model.predict(example.to_numpy()))
    with mlflow.start_run(run_name=name):
        info = mlflow.sklearn.log_model(
            model, name=name, signature=signature, serialization_format="cloudpickle"
        )
    print(info.model_uri)


if __name__ == "__main__":
    main(*sys.argv[1:4])
