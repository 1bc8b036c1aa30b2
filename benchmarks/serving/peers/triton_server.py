"""PyTriton serving one scikit-learn model (run in the PyTriton environment).

    python triton_server.py NAME MODEL.joblib WORKSPACE HTTP_PORT GRPC_PORT METRICS_PORT

Binds the joblib file's model to Triton Inference Server (the ``tritonserver`` binary that the
``nvidia-pytriton`` wheel ships) as the PyTriton documentation shows: ``Triton.bind`` with an
``@batch`` inference function, one input tensor ``input`` (FP64, 20 per row) and one output
``output`` (INT64, 1 per row), dynamic batching on (``ModelConfig(max_batch_size=...,
batcher=DynamicBatcher(...))``), one model instance. Triton's own HTTP front end answers the
Open Inference Protocol v2 (``POST /v2/models/NAME/infer``) on 127.0.0.1.
``BENCH_TRITON_MAX_BATCH`` and ``BENCH_TRITON_DELAY_US`` set the batcher (see
``peer_tools.PyTriton``); PyTriton keeps its sockets and model store in ``WORKSPACE``.
"""

from __future__ import annotations

import os
import sys

import joblib
import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

FEATURES = 20


def main(
    name: str, path: str, workspace: str, http_port: str, grpc_port: str, metrics_port: str
) -> None:
    model = joblib.load(path)

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:  # tensors by name
        return {"output": model.predict(inputs["input"]).astype(np.int64).reshape(-1, 1)}

    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=int(http_port),
        grpc_address="127.0.0.1",
        grpc_port=int(grpc_port),
        metrics_port=int(metrics_port),
        exit_timeout_secs=5,
    )
    batcher = DynamicBatcher(max_queue_delay_microseconds=int(os.environ["BENCH_TRITON_DELAY_US"]))
    with Triton(config=config, workspace=workspace) as triton:
        triton.bind(
            model_name=name,
            infer_func=infer,
            inputs=[Tensor(name="input", dtype=np.float64, shape=(FEATURES,))],
            outputs=[Tensor(name="output", dtype=np.int64, shape=(1,))],
            config=ModelConfig(
                max_batch_size=int(os.environ["BENCH_TRITON_MAX_BATCH"]), batcher=batcher
            ),
            strict=True,
        )
        triton.serve()


if __name__ == "__main__":
    main(*sys.argv[1:7])
