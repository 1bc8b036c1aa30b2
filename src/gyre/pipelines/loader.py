"""Load ``FILE:PIPELINE`` references into :class:`~gyre.pipelines.dsl.Pipeline` objects."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from gyre.errors import InvalidPipeline, NotFound, PipelineImportError, did_you_mean
from gyre.pipelines.dsl import Pipeline


def split_reference(reference: str) -> tuple[Path, str | None]:
    path, sep, name = reference.rpartition(":")
    if not sep or not path:
        return Path(reference), None
    return Path(path), name or None


def import_file(path: Path) -> ModuleType:
    """Import a pipeline file as a module (its folder goes first on ``sys.path``)."""
    path = path.resolve()
    if not path.is_file():
        raise NotFound(
            f"Pipeline file {path} does not exist. Give FILE:PIPELINE, e.g. "
            "examples/seer/pipeline.py:seer."
        )
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = path.stem
    existing = sys.modules.get(module_name)
    if existing is not None and getattr(existing, "__file__", None) == str(path):
        return existing
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PipelineImportError(f"{path} is not a Python file that can be imported.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        frames = traceback.extract_tb(exc.__traceback__)
        user = [f for f in frames if f.filename == str(path)] or frames[-1:]
        where = f"{user[-1].filename}:{user[-1].lineno}" if user else str(path)
        raise PipelineImportError(
            f"The pipeline file {path} does not import: {type(exc).__name__}: {exc} "
            f"(at {where}). Fix the error, then run again (python {path.name} shows the "
            "full traceback)."
        ) from exc
    return module


def load_pipeline(reference: str) -> Pipeline:
    """``path/to/file.py:name`` → the pipeline; with no ``:name``, the file's only pipeline."""
    path, name = split_reference(reference)
    module = import_file(path)
    found = {v.name: v for v in vars(module).values() if isinstance(v, Pipeline)}
    attrs = {k: v for k, v in vars(module).items() if isinstance(v, Pipeline)}
    if name is None:
        if len(found) == 1:
            return next(iter(found.values()))
        raise InvalidPipeline(
            f"{path} defines {len(found)} pipelines ({', '.join(sorted(found)) or 'none'}); "
            f"name one: {path}:NAME."
        )
    pipeline = attrs.get(name) or found.get(name)
    if pipeline is None:
        raise NotFound(
            f"{path} has no pipeline named {name!r}.{did_you_mean(name, set(found) | set(attrs))} "
            f"Pipelines there: {', '.join(sorted(set(attrs))) or 'none'} (decorate a function "
            "with @gyre.pipeline)."
        )
    return pipeline
