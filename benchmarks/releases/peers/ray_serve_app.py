"""Ray Serve's side, run with the Python of ``.bench-cache/releases/rayserve/venv``: a local Ray
instance, a Serve application scoring a joblib scikit-learn model, redeployed on command.

    python ray_serve_app.py PORT REPLICAS MODEL_FILE VERSION

Prints ``ready`` once the application answers on http://127.0.0.1:PORT/score, then reads
commands on stdin, one per line:

    deploy MODEL_FILE VERSION   -> serve.run of the application with the new model; prints
                                   ``deployed STARTED ENDED`` (wall-clock seconds) once
                                   serve.run returned (Serve reports the application RUNNING)
    quit                        -> serve.shutdown(), ray.shutdown(); prints ``stopped``

Each answer carries the version that answered in the header ``x-model-version`` (and the body),
as gyre's carry ``gyre-model-version``.
"""

from __future__ import annotations

import json
import sys
import time

import joblib
import pandas as pd
import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import Response

APP = "bench"


@serve.deployment
class Scorer:
    """One replica: the model file loaded once; each request a list of records."""

    def __init__(self, model_file: str, version: int) -> None:
        self.model = joblib.load(model_file)
        self.columns = list(self.model.feature_names_in_)
        self.version = version

    async def __call__(self, request: Request) -> Response:
        rows = await request.json()
        predictions = self.model.predict(pd.DataFrame(rows, columns=self.columns))
        body = json.dumps({"predictions": predictions.tolist(), "version": self.version})
        return Response(
            body, media_type="application/json", headers={"x-model-version": str(self.version)}
        )


def deploy(replicas: int, model_file: str, version: int) -> None:
    app = Scorer.options(num_replicas=replicas).bind(model_file, version)
    serve.run(app, name=APP, route_prefix="/score")


def main() -> int:
    port, replicas, model_file, version = sys.argv[1:5]
    # address="local": always a new instance of our own, never a cluster another process left
    ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    serve.start(http_options={"host": "127.0.0.1", "port": int(port)})
    deploy(int(replicas), model_file, int(version))
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "deploy":
            started = time.time()
            deploy(int(replicas), words[1], int(words[2]))
            print(f"deployed {started:.6f} {time.time():.6f}", flush=True)
        elif words[0] == "quit":
            break
    serve.shutdown()
    ray.shutdown()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
