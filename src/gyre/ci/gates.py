"""The quality gates of ``gyre ci check``: lint, tests, notebooks without outputs, pipelines
that import and validate, pinned dependencies, release definitions that parse. Each gate
returns a :class:`GateResult`; none raises for what it finds (only for bad configuration)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gyre.ci import notebooks
from gyre.ci.settings import CiSettings
from gyre.errors import GyreError

Status = Literal["passed", "failed", "skipped"]
LOCK_FILES = (
    "uv.lock",
    "poetry.lock",
    "pdm.lock",
    "Pipfile.lock",
    "requirements.lock",
    "conda-lock.yml",
    "requirements/lock.txt",
)
SKIPPED_FOLDERS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".gyre", "build"}


@dataclass(frozen=True)
class GateResult:
    name: str
    status: Status
    seconds: float
    summary: str
    details: str = ""


@dataclass(frozen=True)
class Project:
    root: Path
    settings: CiSettings
    files: list[Path]  # tracked files (or every file, outside git)

    def matching(self, *suffixes: str) -> list[Path]:
        return [f for f in self.files if f.name.endswith(suffixes)]


def run_gates(project: Project, *, fix: bool = False) -> list[GateResult]:
    gates: list[tuple[str, Callable[[], GateResult]]] = [
        ("lint", lambda: _lint(project)),
        ("tests", lambda: _tests(project)),
        ("notebooks", lambda: _notebooks(project, fix)),
        ("pipelines", lambda: _pipelines(project)),
        ("dependencies", lambda: _pinned(project)),
        ("releases", lambda: _releases(project)),
    ]
    return [
        _timed(name, gate) if project.settings.enabled(name) else _skipped(name)
        for name, gate in gates
    ]


def _timed(name: str, gate: Callable[[], GateResult]) -> GateResult:
    started = time.perf_counter()
    result = gate()
    elapsed = time.perf_counter() - started
    return GateResult(result.name, result.status, elapsed, result.summary, result.details)


def _skipped(name: str) -> GateResult:
    return GateResult(name, "skipped", 0.0, f"off in gyre.yaml (ci: {name}: false)")


def _tool(name: str) -> str | None:
    """The tool in this Python's environment first, then on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _command(project: Project, argv: list[str], name: str) -> GateResult:
    done = subprocess.run(argv, cwd=project.root, capture_output=True, text=True, check=False)
    output = (done.stdout + done.stderr).strip()
    if done.returncode == 0:
        return GateResult(name, "passed", 0.0, f"{Path(argv[0]).name} ok")
    tail = "\n".join(output.splitlines()[-40:])
    shown = " ".join([Path(argv[0]).name, *argv[1:3]])
    return GateResult(name, "failed", 0.0, f"{shown} exited {done.returncode}", tail)


def _lint(project: Project) -> GateResult:
    ruff = _tool("ruff")
    if ruff is None:
        return GateResult("lint", "skipped", 0.0, "ruff is not installed (pip install ruff)")
    argv = [ruff, *(project.settings.lint_args or ["check", "."])]
    result = _command(project, argv, "lint")
    if result.status == "passed":
        return GateResult("lint", "passed", 0.0, f"ruff {' '.join(argv[1:])}: no problems")
    return result


def _tests(project: Project) -> GateResult:
    try:
        import pytest  # noqa: F401
    except ImportError:
        return GateResult("tests", "skipped", 0.0, "pytest is not installed (pip install pytest)")
    argv = [sys.executable, "-m", "pytest", *(project.settings.test_args or ["-q"])]
    done = subprocess.run(
        argv,
        cwd=project.root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    lines = (done.stdout + done.stderr).strip().splitlines()
    last = lines[-1].strip("= ") if lines else ""
    if done.returncode == 0:
        return GateResult("tests", "passed", 0.0, last or "pytest passed")
    if done.returncode == 5:
        return GateResult(
            "tests",
            "failed",
            0.0,
            "pytest collected no tests: add tests, or set 'ci: {tests: false}' in gyre.yaml",
        )
    return GateResult(
        "tests", "failed", 0.0, last or f"pytest exited {done.returncode}", "\n".join(lines[-60:])
    )


def _notebooks(project: Project, fix: bool) -> GateResult:
    found = project.matching(".ipynb")
    if not found:
        return GateResult("notebooks", "skipped", 0.0, "no notebooks")
    try:
        if fix:
            stripped = [p for p in found if notebooks.strip(p)]
            note = f"; stripped {len(stripped)}" if stripped else ""
        else:
            note = ""
        problems = notebooks.check(found)
    except GyreError as exc:
        return GateResult("notebooks", "failed", 0.0, str(exc))
    if not problems:
        return GateResult("notebooks", "passed", 0.0, f"{len(found)} without outputs{note}")
    lines = [
        f"{p.path.relative_to(project.root)}: cells {', '.join(map(str, p.cells))} hold outputs"
        for p in problems
    ]
    return GateResult(
        "notebooks",
        "failed",
        0.0,
        f"{len(problems)} of {len(found)} hold outputs: run 'gyre ci check --fix' to strip them",
        "\n".join(lines),
    )


def discover_pipelines(project: Project) -> list[str]:
    """``FILE:NAME`` of every ``@pipeline`` function in the project's Python files (or the
    ones gyre.yaml lists under ``ci: pipelines:``)."""
    if project.settings.pipelines is not None:
        return project.settings.pipelines
    found = []
    for path in project.matching(".py"):
        if any(part in SKIPPED_FOLDERS or part == "tests" for part in path.parts):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "pipeline" not in text:
            continue
        try:
            tree = ast.parse(text, str(path))
        except SyntaxError as exc:
            found.append(f"{path.relative_to(project.root)}:?syntax:{exc.lineno}")
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and any(
                _decorator_name(d) == "pipeline" for d in node.decorator_list
            ):
                found.append(f"{path.relative_to(project.root)}:{node.name}")
    return found


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _pipelines(project: Project) -> GateResult:
    from gyre.pipelines.graph import build_graph
    from gyre.pipelines.loader import load_pipeline

    references = discover_pipelines(project)
    if not references:
        return GateResult("pipelines", "skipped", 0.0, "no @pipeline functions found")
    problems = []
    for reference in references:
        if ":?syntax:" in reference:
            file, _, line = reference.partition(":?syntax:")
            problems.append(f"{file}:{line}: syntax error")
            continue
        try:
            build_graph(load_pipeline(str(project.root / reference)))
        except GyreError as exc:
            problems.append(f"{reference}: {exc}")
    if problems:
        return GateResult(
            "pipelines",
            "failed",
            0.0,
            f"{len(problems)} of {len(references)} do not import or validate",
            "\n".join(problems),
        )
    return GateResult("pipelines", "passed", 0.0, f"{len(references)} import and validate")


def _releases(project: Project) -> GateResult:
    """Every ``release.yaml`` (or ``.yml``) parses, and the pytest folders its checks name
    exist: a broken release definition fails the pull request, not the next release."""
    from gyre.releases import parse

    files = [f for f in project.files if f.name in ("release.yaml", "release.yml")]
    if not files:
        return GateResult("releases", "skipped", 0.0, "no release.yaml found")
    problems = []
    for path in files:
        shown = path.relative_to(project.root).as_posix()
        try:
            spec = parse(path.read_text(encoding="utf-8"), shown)
        except GyreError as exc:
            problems.append(str(exc))
            continue
        for stage in spec.stages:
            for check in stage.checks:
                folder = check.settings.get("path") if check.kind == "pytest" else None
                if folder and not (path.parent / folder).exists():
                    problems.append(
                        f"{shown}: stage {stage.name}: pytest folder {folder} does not exist "
                        f"beside it"
                    )
    if problems:
        return GateResult(
            "releases",
            "failed",
            0.0,
            f"{len(problems)} problem(s) in {len(files)} release definition(s)",
            "\n".join(problems),
        )
    return GateResult("releases", "passed", 0.0, f"{len(files)} release definition(s) valid")


def _pinned(project: Project) -> GateResult:
    locks = [name for name in LOCK_FILES if (project.root / name).exists()]
    files = [
        f
        for f in project.matching(".txt")
        if f.name.startswith("requirements") and f.relative_to(project.root).as_posix() not in locks
    ]
    loose = []
    for path in files:
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue  # options and includes (-r, -c, --index-url)
            if "==" not in line and "@" not in line:
                loose.append(f"{path.relative_to(project.root)}:{number}: {line} (no ==version)")
    if loose:
        return GateResult(
            "dependencies",
            "failed",
            0.0,
            f"{len(loose)} requirement(s) without an exact version: pin them (name==version) "
            "or add a lock file",
            "\n".join(loose),
        )
    if files:
        return GateResult("dependencies", "passed", 0.0, f"{len(files)} requirement file(s) pinned")
    if locks:
        return GateResult("dependencies", "passed", 0.0, f"lock file {locks[0]}")
    if (project.root / "pyproject.toml").exists():
        return GateResult(
            "dependencies",
            "failed",
            0.0,
            "pyproject.toml without a lock file: add one (uv lock, poetry lock) or a pinned "
            "requirements.txt, so a run can be made again with the same packages",
        )
    return GateResult("dependencies", "skipped", 0.0, "no dependency files")
