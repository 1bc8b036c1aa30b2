"""gyre: self-hosted MLOps. Pipelines with step reuse, tracking, datasets, registry, serving.

The public SDK. Names are loaded on first use, so ``import gyre`` stays cheap::

    import gyre

    @gyre.step
    def train(epochs: int = 5) -> float: ...

    @gyre.pipeline
    def seer(epochs: int = 5):
        train(epochs=epochs)

    run = gyre.run(seer, params={"epochs": 20}, tags={"build": "1.42"})
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Dataset": "gyre.data.dataset",
    "Dir": "gyre.pipelines.dsl",
    "File": "gyre.pipelines.dsl",
    "GyreError": "gyre.errors",
    "Output": "gyre.pipelines.dsl",
    "PipelineRun": "gyre.pipelines.run_types",
    "ScriptStep": "gyre.pipelines.dsl",
    "after": "gyre.pipelines.dsl",
    "drift": "gyre.monitoring",
    "load_model": "gyre.registry.models",
    "log_artifact": "gyre.tracking.logging_api",
    "log_metric": "gyre.tracking.logging_api",
    "log_metrics": "gyre.tracking.logging_api",
    "log_param": "gyre.tracking.logging_api",
    "log_params": "gyre.tracking.logging_api",
    "output_dir": "gyre.pipelines.step_process",
    "pipeline": "gyre.pipelines.dsl",
    "plan": "gyre.sdk",
    "register_model": "gyre.registry.models",
    "run": "gyre.sdk",
    "set_tag": "gyre.tracking.logging_api",
    "start_run": "gyre.tracking.active_run",
    "step": "gyre.pipelines.dsl",
}

__all__ = [
    "Dataset",
    "Dir",
    "File",
    "GyreError",
    "Output",
    "PipelineRun",
    "ScriptStep",
    "after",
    "drift",
    "load_model",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "output_dir",
    "pipeline",
    "plan",
    "register_model",
    "run",
    "set_tag",
    "start_run",
    "step",
]

if TYPE_CHECKING:
    from gyre.data.dataset import Dataset
    from gyre.errors import GyreError
    from gyre.monitoring import drift
    from gyre.pipelines.dsl import Dir, File, Output, ScriptStep, after, pipeline, step
    from gyre.pipelines.run_types import PipelineRun
    from gyre.pipelines.step_process import output_dir
    from gyre.registry.models import load_model, register_model
    from gyre.sdk import plan, run
    from gyre.tracking.active_run import start_run
    from gyre.tracking.logging_api import (
        log_artifact,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_tag,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gyre' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
