"""PyTorch models as TorchScript: no model class is needed to load them.

torch 2.13 marks TorchScript as deprecated in favour of torch.export; it still works and still
needs no model code at load time, so gyre keeps it and silences the notice. A state_dict with
its model class goes through the python flavor (a score.py that builds the class and loads it).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

FILE = "model.pt"


def detect(obj: Any) -> bool:
    return any(c.__module__.startswith("torch") for c in type(obj).__mro__)


def save(model: Any, dest: Path, *, example: Any = None, **_: Any) -> dict[str, Any]:
    import torch

    dest.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if isinstance(model, torch.jit.ScriptModule):
            scripted = model
        elif example is not None:
            scripted = torch.jit.trace(model, torch.as_tensor(example))
        else:
            scripted = torch.jit.script(model)
        scripted.save(str(dest / FILE))
    return {"file": FILE}


class _Scripted:
    def __init__(self, module: Any, device: str) -> None:
        self.module = module
        self.device = device

    def predict(self, batch: Any) -> Any:
        import numpy as np
        import torch

        tensor = torch.as_tensor(np.asarray(batch, dtype=np.float32), device=self.device)
        with torch.no_grad():
            return self.module(tensor).cpu().numpy()


def load(path: Path, meta: dict[str, Any]) -> Any:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path / meta.get("file", FILE)), map_location=device)
    return _Scripted(module.eval(), device)
