"""Notebooks are committed without outputs or execution counts (as nbstripout leaves them).

A notebook is JSON (nbformat 4); the check reads it as such, and ``strip`` writes it back the
way Jupyter and nbformat do (one-space indent, keys sorted, a final newline), so a stripped
notebook diffs cleanly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter

# Cell metadata that records a run, not the notebook (nbstripout drops the same keys).
RUN_METADATA = ("collapsed", "scrolled", "ExecuteTime", "execution")


@dataclass(frozen=True)
class NotebookProblem:
    path: Path
    cells: list[int]  # indexes of cells with outputs or an execution count


def read(path: Path) -> dict[str, Any]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(
            f"{path} is not a valid notebook (not JSON: {exc}). Open and save it in Jupyter, "
            "or restore it from git."
        ) from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise InvalidParameter(
            f"{path} is not a notebook (no 'cells' list). Open and save it in Jupyter, or "
            "restore it from git."
        )
    return notebook


def dirty_cells(notebook: dict[str, Any]) -> list[int]:
    """Indexes of code cells that hold outputs or an execution count."""
    return [
        index
        for index, cell in enumerate(notebook["cells"])
        if cell.get("cell_type") == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]


def check(paths: list[Path]) -> list[NotebookProblem]:
    problems = []
    for path in paths:
        cells = dirty_cells(read(path))
        if cells:
            problems.append(NotebookProblem(path, cells))
    return problems


def strip(path: Path) -> bool:
    """Remove outputs, execution counts and run metadata; returns whether it changed."""
    notebook = read(path)
    if not dirty_cells(notebook) and not _run_metadata(notebook):
        return False
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in RUN_METADATA:
            cell.get("metadata", {}).pop(key, None)
    text = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    temp = path.with_name(f".{path.name}.strip")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)
    return True


def _run_metadata(notebook: dict[str, Any]) -> bool:
    return any(
        key in cell.get("metadata", {}) for cell in notebook["cells"] for key in RUN_METADATA
    )
