"""``gyre ci check``: the project's quality gates in one command, one exit code."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gyre.ci import repository, settings
from gyre.ci.gates import SKIPPED_FOLDERS, GateResult, Project, run_gates
from gyre.errors import InvalidParameter


@dataclass(frozen=True)
class CheckReport:
    root: Path
    results: list[GateResult]

    @property
    def passed(self) -> bool:
        return all(r.status != "failed" for r in self.results)


def project_at(folder: Path) -> Project:
    """The project ``folder`` belongs to: its git work tree (tracked files only), or the
    folder itself outside git."""
    try:
        root = repository.root(folder)
        files = repository.tracked(root)
    except InvalidParameter:
        root, files = folder.resolve(), _walk(folder.resolve())
    return Project(root, settings.load(root), files)


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_FOLDERS and not d.startswith(".")]
        found.extend(Path(folder) / name for name in names)
    return sorted(found)


def check(folder: Path, *, fix: bool = False) -> CheckReport:
    project = project_at(folder)
    return CheckReport(project.root, run_gates(project, fix=fix))
