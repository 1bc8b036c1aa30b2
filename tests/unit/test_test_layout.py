"""The tests' own layout: shared helpers live in tests/support/ or conftest.py, so no test module
imports another and none edits sys.path to reach one (a test module that another imports runs its
module-level code twice and couples two files that look independent)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parents[1]
FIX = "move the shared helper to tests/support/ (or a conftest.py fixture) and import it there"


def _is_test_module(dotted: str) -> bool:
    return any(part.startswith("test_") for part in dotted.split("."))


def _is_sys_path_edit(call: ast.Call) -> bool:
    """``sys.path.insert(...)``, ``sys.path.append(...)`` or ``sys.path.extend(...)``."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in ("insert", "append", "extend")
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "path"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "sys"
    )


def layout_problems(source: str, name: str) -> list[str]:
    """``name:line: what is wrong`` for each import of a test module and each sys.path edit."""
    problems: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            if not node.module:  # from . import test_x
                modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.Call) and _is_sys_path_edit(node):
            problems.append((node.lineno, f"{name}:{node.lineno}: edits sys.path; {FIX}"))
            continue
        else:
            continue
        for module in modules:
            if _is_test_module(module):
                problem = f"{name}:{node.lineno}: imports test module {module!r}; {FIX}"
                problems.append((node.lineno, problem))
    return [problem for _, problem in sorted(problems)]


@pytest.mark.parametrize(
    "source",
    [
        "from test_serving import Server",
        "import test_datasets",
        "import os, test_datasets as td",
        "from tests.integration.test_datasets import write",
        "from . import test_datasets",
        "def f():\n    from test_datasets import make_images",
        "import sys\nsys.path.insert(0, 'tests/integration')",
        "import sys\nsys.path.append('tests/integration')",
    ],
)
def test_the_layout_check_catches_imports_of_test_modules_and_sys_path_edits(
    source: str,
) -> None:
    (problem,) = layout_problems(source, "tests/e2e/test_x.py")
    assert problem.startswith("tests/e2e/test_x.py:")
    assert "tests/support/" in problem


def test_the_layout_check_allows_conftest_support_and_restoring_sys_path() -> None:
    source = (
        "import sys\n"
        "from conftest import copy_resource\n"
        "from support.data_files import write\n"
        "from gyre.store import Store\n"
        "path = list(sys.path)\n"
        "sys.path[:] = path\n"
        "text = 'from test_datasets import write'\n"
    )
    assert layout_problems(source, "tests/conftest.py") == []


def test_no_test_module_imports_another_or_edits_sys_path() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert any(f.name == "test_test_layout.py" for f in files)  # the walk found the tests
    problems = [
        problem
        for path in files
        for problem in layout_problems(
            path.read_text(encoding="utf-8"), str(path.relative_to(TESTS.parent))
        )
    ]
    assert not problems, "\n".join(problems)
