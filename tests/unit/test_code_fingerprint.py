"""What source a step depends on: its own def, same-module names it uses, project imports."""

from __future__ import annotations

from pathlib import Path

from gyre.pipelines.code_fingerprint import CodeFingerprinter

MODULE = """
import json
import helper
from pkg.inner import tool

LIMIT = 3


def util(x):
    return x + LIMIT


def unrelated():
    return 0


def step_a(x):
    return util(x) + helper.f(x)


def step_b(x):
    import pkg.inner
    return tool(x)


def step_c(x):
    return json.dumps(x)
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "mod.py").write_text(MODULE)
    (tmp_path / "helper.py").write_text("import second\ndef f(x):\n    return x\n")
    (tmp_path / "second.py").write_text("Y = 1\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "inner.py").write_text("def tool(x):\n    return x\n")
    return tmp_path / "mod.py"


def _lineno(source: str, name: str) -> int:
    return next(
        i for i, line in enumerate(source.splitlines(), 1) if line.startswith(f"def {name}")
    )


def fingerprint(path: Path, name: str) -> tuple[str, dict[str, str]]:
    return CodeFingerprinter(path.parent).function(path, name, _lineno(path.read_text(), name))


def test_a_step_depends_on_helpers_it_imports_transitively(tmp_path: Path) -> None:
    mod = _project(tmp_path)
    _, files = fingerprint(mod, "step_a")
    assert set(files) == {"helper.py", "second.py"}


def test_a_package_import_inside_the_function_is_found(tmp_path: Path) -> None:
    mod = _project(tmp_path)
    _, files = fingerprint(mod, "step_b")
    assert "pkg/inner.py" in files


def test_standard_library_imports_are_not_project_code(tmp_path: Path) -> None:
    mod = _project(tmp_path)
    _, files = fingerprint(mod, "step_c")
    assert files == {}


def test_editing_an_unrelated_function_in_the_same_module_changes_nothing(tmp_path: Path) -> None:
    mod = _project(tmp_path)
    before = fingerprint(mod, "step_a")
    mod.write_text(MODULE.replace("return 0", "return 1"))
    assert fingerprint(mod, "step_a") == before


def test_editing_a_same_module_function_the_step_calls_changes_its_fingerprint(
    tmp_path: Path,
) -> None:
    mod = _project(tmp_path)
    before, _ = fingerprint(mod, "step_a")
    mod.write_text(MODULE.replace("return x + LIMIT", "return x - LIMIT"))
    after, _ = fingerprint(mod, "step_a")
    assert before != after


def test_editing_a_module_constant_the_step_uses_changes_its_fingerprint(tmp_path: Path) -> None:
    mod = _project(tmp_path)
    before, _ = fingerprint(mod, "step_a")
    mod.write_text(MODULE.replace("LIMIT = 3", "LIMIT = 4"))
    after, _ = fingerprint(mod, "step_a")
    assert before != after


def test_editing_a_transitively_imported_helper_changes_the_file_digests(tmp_path: Path) -> None:
    mod = _project(tmp_path)
    _, before = fingerprint(mod, "step_a")
    (tmp_path / "second.py").write_text("Y = 2\n")
    _, after = fingerprint(mod, "step_a")
    assert before["second.py"] != after["second.py"]


def test_gyre_itself_is_never_project_code_even_from_a_checkout_under_the_project(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "gyre").mkdir()
    (tmp_path / "gyre" / "__init__.py").write_text("X = 1\n")
    mod = tmp_path / "mod.py"
    mod.write_text("import gyre\n\n\ndef step_a(x):\n    return gyre.X\n")
    _, files = fingerprint(mod, "step_a")
    assert files == {}
