"""LitServe serving one scikit-learn model (run in the LitServe environment).

    python litserve_server.py MODEL.joblib PORT

``POST /predict`` with ``{"rows": [[20 numbers], ...]}`` answers ``{"predictions": [...]}``.
A ``LitAPI`` as LitServe's documentation shows: the model is loaded in ``setup``, requests are
decoded to arrays, and batching is on (``LitAPI(max_batch_size=..., batch_timeout=...)``, from
``BENCH_LITSERVE_MAX_BATCH`` and ``BENCH_LITSERVE_BATCH_TIMEOUT_S``, see
``peer_tools.LitServe``): ``batch`` stacks the requests' rows into one array, ``predict`` calls
the model once, ``unbatch`` gives each request its own rows back. ``LitServer`` on the CPU with
its defaults (one inference worker, one API server process) and ``fast_queue=True`` (ZeroMQ
between them, which its documentation advises above 100 requests/s).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import joblib
import litserve as ls
import numpy as np


class ScikitAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL"])

    # No annotations on the request and the response: LitServe reads them to type its route
    # (unannotated: the JSON body as a dict, the answer as JSON), as its examples leave them.
    def decode_request(self, request):
        return np.asarray(request["rows"], dtype=np.float64)

    def batch(self, inputs: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
        return np.concatenate(inputs), [len(rows) for rows in inputs]

    def predict(self, x: Any) -> Any:
        if isinstance(x, tuple):  # a batch: the stacked rows and each request's row count
            rows, counts = x
            return self.model.predict(rows), counts
        return self.model.predict(x)

    def unbatch(self, output: tuple[np.ndarray, list[int]]) -> list[np.ndarray]:
        predictions, counts = output
        return np.split(predictions, np.cumsum(counts)[:-1])

    def encode_response(self, output):
        return {"predictions": output.tolist()}


def main(path: str, port: str) -> None:
    os.environ["BENCH_MODEL"] = path
    api = ScikitAPI(
        max_batch_size=int(os.environ["BENCH_LITSERVE_MAX_BATCH"]),
        batch_timeout=float(os.environ["BENCH_LITSERVE_BATCH_TIMEOUT_S"]),
    )
    server = ls.LitServer(api, accelerator="cpu", fast_queue=True)
    server.run(host="127.0.0.1", port=int(port), generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main(*sys.argv[1:3])
