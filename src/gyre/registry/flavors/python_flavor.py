"""The python flavor: the talk's score.py contract, or a class with ``load``/``predict``.

- a module file with ``init()`` and ``run(data)`` (``entry="score.py"``): ``init`` finds the
  model's files through ``GYRE_MODEL_DIR``;
- or ``entry="module:Class"`` where ``Class.load(path)`` returns an object with
  ``predict(batch)``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter

MODEL_DIR_ENV = "GYRE_MODEL_DIR"


def detect(obj: Any) -> bool:
    return False


def save(source: Any, dest: Path, *, entry: str | None = None) -> dict[str, Any]:
    folder = Path(source)
    if not folder.is_dir():
        raise InvalidParameter(
            f"The python flavor registers a folder holding the scoring code; {folder} is not a "
            "folder."
        )
    entry = entry or "score.py"
    module_file = entry.split(":", 1)[0] if ":" in entry else entry
    module_path = folder / (
        module_file if module_file.endswith(".py") else module_file.replace(".", "/") + ".py"
    )
    if not module_path.is_file():
        raise InvalidParameter(
            f"{folder} has no {module_path.name}: the python flavor needs a scoring module "
            "with init() and run(data), or entry='module:Class' with load(path)/predict(batch)."
        )
    shutil.copytree(folder, dest, dirs_exist_ok=True)
    return {"entry": entry}


class _ScoreModule:
    def __init__(self, module: Any) -> None:
        self.module = module

    def predict(self, batch: Any) -> Any:
        return self.module.run(batch)


def load(path: Path, meta: dict[str, Any]) -> Any:
    entry: str = meta.get("entry", "score.py")
    os.environ[MODEL_DIR_ENV] = str(path)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    if entry.endswith(".py"):
        name = f"gyre_score_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(name, path / entry)
        if spec is None or spec.loader is None:
            raise InvalidParameter(f"Cannot import {entry} from the model artifact.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        for needed in ("init", "run"):
            if not callable(getattr(module, needed, None)):
                raise InvalidParameter(f"{entry} has no {needed}() function (score.py contract).")
        module.init()
        return _ScoreModule(module)
    module_name, _, class_name = entry.partition(":")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    return cls.load(path)
