"""What runs inside a step's own process: load inputs, call the step, store its outputs.

The result goes to ``result.json`` in the step's scratch folder (written atomically); the
parent commits it to the metadata database. Blobs are durable before that file appears.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gyre.pipelines import materializers
from gyre.pipelines.dsl import DEFAULT_OUTPUTS, Binding, Node, Output, ScriptStep, Step
from gyre.store import Store, local_copies

OUTPUT_DIR_ENV = "GYRE_STEP_OUTPUT_DIR"


@dataclass
class InputSpec:
    materializer: str
    digest: str
    meta: dict[str, Any]


@dataclass
class StepTask:
    """Everything a process needs to run one attempt of one step."""

    node: Node
    step_run_id: str
    params: dict[str, Any]
    inputs: dict[str, InputSpec]
    scratch: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def result_file(self) -> Path:
        return self.scratch / "result.json"


def output_dir(name: str = "output") -> Path:
    """A fresh, empty folder for a step to write an output ``Dir`` into."""
    base = os.environ.get(OUTPUT_DIR_ENV)
    if not base:
        import tempfile

        return Path(tempfile.mkdtemp(prefix=f"gyre-{name}-"))
    path = Path(base) / name
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(base) / f"{name}-{suffix}"
    path.mkdir(parents=True)
    return path


def run_task(task: StepTask, store: Store) -> int:
    """Run the step; return the process exit code (0 on success)."""
    from gyre.tracking.active_run import ActiveRun, activate

    task.scratch.mkdir(parents=True, exist_ok=True)
    os.environ[OUTPUT_DIR_ENV] = str(task.scratch / "outputs")
    cache = store.local_path("cache")
    run = ActiveRun(store, task.step_run_id)
    token = activate(run)
    where = f"step {task.node.name!r} ({task.node.defined_at})"
    try:
        loaded = {
            arg: _load_dataset(spec, store, task.node.annotations.get(arg))
            if spec.materializer == "dataset"
            else materializers.load(spec.materializer, spec.digest, spec.meta, store.blobs, cache)
            for arg, spec in task.inputs.items()
        }
        step = task.node.step
        copies = _local_copies(loaded, cache)
        try:
            if isinstance(step, ScriptStep):
                outputs = _run_script(task, step, loaded, store, where)
            else:
                assert isinstance(step, Step)
                value = step.func(**task.params, **loaded)
                outputs = _save_outputs(task.node, value, store, where)
        finally:
            _check_inputs_unchanged(copies, where)
    except BaseException as exc:
        traceback.print_exc()
        sys.stderr.flush()
        _write_result(task, {"error": f"{type(exc).__name__}: {exc}"})
        return 1
    finally:
        from gyre.tracking.active_run import deactivate

        deactivate(token)
        run.close()
    _write_result(task, {"outputs": {name: asdict(saved) for name, saved in outputs.items()}})
    return 0


def _local_copies(loaded: dict[str, Any], cache: Path) -> dict[str, Path]:
    """The inputs handed to the step as paths into the workspace's cache (folders, files)."""
    from gyre.pipelines.dsl import Dir, File

    copies = {}
    for arg, value in loaded.items():
        if isinstance(value, Dir | File):
            path = Path(value)
            root = path if isinstance(value, Dir) else path.parent
            if root.parent.parent == cache:
                copies[arg] = root
    return copies


def _check_inputs_unchanged(copies: dict[str, Path], where: str) -> None:
    """Fail the step that wrote into an input; the changed copy is removed, so later steps
    and runs get the recorded bytes again."""
    from gyre.errors import StepFailed

    for arg, root in copies.items():
        if local_copies.unchanged(root):
            continue
        local_copies.discard(root)
        raise StepFailed(
            f"{where} changed its input {arg!r} ({root}): a step's inputs are read-only, "
            "since they are what the run's lineage records. Copy what you change into "
            "gyre.output_dir() and write there."
        )


def _load_dataset(spec: InputSpec, store: Store, annotation: Any) -> Any:
    """A dataset input: a folder for file sets, a pyarrow Table for tables."""
    from gyre.data import versions
    from gyre.data.dataset import DatasetVersion
    from gyre.pipelines.dsl import Dir

    record = versions.get(store, spec.meta["dataset"], spec.meta["version"])
    name = getattr(annotation, "__name__", str(annotation))
    if name == "DatasetVersion":
        return DatasetVersion(record, store)
    if record.layout in ("table", "partitions"):
        table = versions.to_arrow(store, record)
        return table.to_pandas() if name == "DataFrame" else table
    return Dir(versions.local_path(store, record))


def _save_outputs(
    node: Node, value: Any, store: Store, where: str
) -> dict[str, materializers.SavedOutput]:
    names = node.options.outputs
    ret = node.annotations.get("return")
    if len(names) == 1:
        name = _named_by_output_dir(value) if names == DEFAULT_OUTPUTS else names[0]
        return {name: materializers.save(value, ret, store.blobs, where=where)}
    if not isinstance(value, tuple) or len(value) != len(names):
        from gyre.errors import StepFailed

        raise StepFailed(
            f"{where} declares outputs {list(names)} but returned "
            f"{type(value).__name__}; return a tuple of {len(names)} values."
        )
    types = getattr(ret, "__args__", None) or (None,) * len(names)
    return {
        name: materializers.save(item, annotation, store.blobs, where=f"{where} output {name!r}")
        for name, item, annotation in zip(names, value, types, strict=False)
    }


def _named_by_output_dir(value: Any) -> str:
    """``gyre.output_dir("model")`` returned as a step's only, undeclared output names its
    artifact ``model`` (``model-2`` for a second folder of that name)."""
    base = os.environ.get(OUTPUT_DIR_ENV)
    if base and isinstance(value, str | os.PathLike):
        path = Path(value)
        if path.parent == Path(base) and path.name:
            return path.name
    return DEFAULT_OUTPUTS[0]


def _script_arg(binding: Binding, task: StepTask, arg: str, loaded: dict[str, Any]) -> str:
    if arg in loaded:  # a step output or a dataset: its local path
        return str(loaded[arg])
    value = task.params.get(arg, binding.value)
    if isinstance(value, Output):
        target = task.scratch / "outputs" / value.name
        if value.file:
            target.parent.mkdir(parents=True, exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
        return str(target)
    if isinstance(value, dict) and set(value) == {"output", "file"}:
        return _script_arg(
            Binding("const", value=Output(value["output"], value["file"])), task, arg, loaded
        )
    return value if isinstance(value, str) else json.dumps(value)


def _run_script(
    task: StepTask, step: ScriptStep, loaded: dict[str, Any], store: Store, where: str
) -> dict[str, materializers.SavedOutput]:
    from gyre.errors import StepFailed
    from gyre.tracking.active_run import RUN_ID_ENV

    argv = [_script_arg(b, task, arg, loaded) for arg, b in task.node.bindings.items()]
    env = {
        **os.environ,
        RUN_ID_ENV: task.step_run_id,
        "GYRE_URI": store.settings.db_url
        if not store.settings.embedded
        else str(store.settings.local_dir),
        "GYRE_ARTIFACTS": store.settings.artifacts_url,
        "GYRE_ARTIFACTS_OPTIONS": json.dumps(store.settings.artifacts_options),
        "PYTHONUNBUFFERED": "1",
    }
    sys.stdout.flush()
    completed = subprocess.run([sys.executable, str(step.script), *argv], env=env, check=False)
    if completed.returncode != 0:
        raise StepFailed(f"{where}: {step.script.name} exited with code {completed.returncode}.")
    outputs: dict[str, materializers.SavedOutput] = {}
    for arg in step.args:
        if isinstance(arg, Output):
            path = task.scratch / "outputs" / arg.name
            annotation = "File" if arg.file else "Dir"
            outputs[arg.name] = materializers.save(
                path, annotation, store.blobs, where=f"{where} output {arg.name!r}"
            )
    return outputs


def _write_result(task: StepTask, result: dict[str, Any]) -> None:
    temp = task.result_file.with_suffix(".tmp")
    temp.write_text(json.dumps(result))
    os.replace(temp, task.result_file)


def read_result(task: StepTask) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(task.result_file.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data
