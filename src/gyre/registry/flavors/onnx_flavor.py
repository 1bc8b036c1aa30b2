"""ONNX models, run with onnxruntime."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter

FILE = "model.onnx"


def detect(obj: Any) -> bool:
    return type(obj).__module__.startswith("onnx")


def save(model: Any, dest: Path, **_: Any) -> dict[str, Any]:
    dest.mkdir(parents=True, exist_ok=True)
    if isinstance(model, str | Path):
        if not str(model).endswith(".onnx"):
            raise InvalidParameter(f"{model} is not an .onnx file.")
        shutil.copy(model, dest / FILE)
    elif isinstance(model, bytes):
        (dest / FILE).write_bytes(model)
    else:
        (dest / FILE).write_bytes(model.SerializeToString())
    return {"file": FILE}


class _Session:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.input = session.get_inputs()[0].name

    def predict(self, batch: Any) -> Any:
        import numpy as np

        outputs = self.session.run(None, {self.input: np.asarray(batch, dtype=np.float32)})
        return outputs[0]


def load(path: Path, meta: dict[str, Any]) -> Any:
    import onnxruntime

    providers = [
        p
        for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
        if p in onnxruntime.get_available_providers()
    ]
    return _Session(
        onnxruntime.InferenceSession(str(path / meta.get("file", FILE)), providers=providers)
    )
