"""What source code a step depends on, found by reading (not importing) the project's files.

A function step depends on its own ``def`` (decorators excluded: they say how to run it, not
what it computes), on the module-level functions, classes and constants of its module that it
names (transitively), and on every project module it or those names import, transitively,
as whole files. A script step depends on its script and the project modules it imports.
Modules outside the project root (the standard library, site-packages) are the environment's
business, not the code's.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gyre.errors import InvalidPipeline

_SKIP_DIRS = ("site-packages", "dist-packages", ".venv", "venv")
FRAMEWORK = frozenset({"gyre"})
"""gyre itself is never project code, even from a source checkout under the project root."""
_PROJECT_MARKERS = ("pyproject.toml", "gyre.yaml", ".git", "setup.py", ".gyre-snapshot")


def project_root(path: Path) -> Path:
    """The nearest ancestor of ``path`` holding a project marker, else its own folder."""
    folder = path.resolve().parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in _PROJECT_MARKERS):
            return candidate
    return folder


@dataclass
class _ParsedModule:
    path: Path
    source: str
    digest: str
    tree: ast.Module
    top_level: dict[str, ast.stmt] = field(default_factory=dict)
    imported_names: dict[str, tuple[str, int, str | None]] = field(default_factory=dict)
    """local name → (module, level, attribute) for every module-level import."""


class CodeFingerprinter:
    """Computes code fingerprints; caches parsed files for the life of one run."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._parsed: dict[Path, _ParsedModule] = {}
        self._closure: dict[Path, dict[str, str]] = {}
        self._functions: dict[tuple[Path, str, int], tuple[str, dict[str, str]]] = {}

    # -- public ------------------------------------------------------------------------------

    def function(self, file: Path, name: str, lineno: int) -> tuple[str, dict[str, str]]:
        """(digest of the function and same-module names it uses, {project file: digest})."""
        known = self._functions.get((file, name, lineno))
        if known is not None:  # a step used many times in one pipeline (a fan-out)
            return known[0], dict(known[1])
        module = self._parse(file.resolve())
        target = self._find_def(module, name, lineno)
        pieces: list[str] = []
        files: dict[str, str] = {}
        seen: set[str] = set()
        queue: list[ast.AST] = [target]
        while queue:
            node = queue.pop()
            pieces.append(_source_without_decorators(module.source, node))
            for ref in sorted(_names_used(node)):
                if ref in seen:
                    continue
                seen.add(ref)
                defined = module.top_level.get(ref)
                if defined is not None and defined is not target:
                    queue.append(defined)
                elif ref in module.imported_names:
                    self._add_module_ref(module, *module.imported_names[ref], files)
            for imported, level, attr in _imports_in(node):
                self._add_module_ref(module, imported, level, attr, files)
        digest = hashlib.sha256("\n\0".join(pieces).encode()).hexdigest()
        self._functions[(file, name, lineno)] = (digest, dict(sorted(files.items())))
        return digest, dict(sorted(files.items()))

    def script(self, file: Path) -> dict[str, str]:
        """{project file: digest} for a script and the project modules it imports."""
        return dict(sorted(self._file_closure(file.resolve()).items()))

    def module_files(self, file: Path) -> dict[str, str]:
        """The same closure, for publishing a pipeline module with what it imports."""
        return self.script(file)

    # -- internals ---------------------------------------------------------------------------

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def _parse(self, path: Path) -> _ParsedModule:
        cached = self._parsed.get(path)
        if cached is not None:
            return cached
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        module = _ParsedModule(path, source, hashlib.sha256(source.encode()).hexdigest(), tree)
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                module.top_level[stmt.name] = stmt
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Name):
                            module.top_level[sub.id] = stmt
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    local = alias.asname or alias.name.split(".")[0]
                    full = alias.name if alias.asname else alias.name.split(".")[0]
                    module.imported_names[local] = (full, 0, None)
            elif isinstance(stmt, ast.ImportFrom):
                for alias in stmt.names:
                    module.imported_names[alias.asname or alias.name] = (
                        stmt.module or "",
                        stmt.level,
                        alias.name,
                    )
        self._parsed[path] = module
        return module

    def _find_def(self, module: _ParsedModule, name: str, lineno: int) -> ast.AST:
        best: ast.AST | None = None
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if first <= lineno <= node.lineno or best is None:
                    best = node
        if best is None:
            raise InvalidPipeline(
                f"Step function {name!r} is not defined in {module.path}: define the step "
                "at the top level of its module (not inside another function)."
            )
        return best

    def _add_module_ref(
        self, module: _ParsedModule, name: str, level: int, attr: str | None, files: dict[str, str]
    ) -> None:
        for candidate in self._resolve(module.path, name, level, attr):
            files.update(self._file_closure(candidate))

    def _file_closure(self, path: Path) -> dict[str, str]:
        cached = self._closure.get(path)
        if cached is not None:
            return cached
        result: dict[str, str] = {}
        self._closure[path] = result  # breaks import cycles
        module = self._parse(path)
        result[self._rel(path)] = module.digest
        for imported, level, attr in _imports_in(module.tree):
            for candidate in self._resolve(path, imported, level, attr):
                result.update(self._file_closure(candidate))
        return result

    def _resolve(self, importer: Path, name: str, level: int, attr: str | None) -> list[Path]:
        """Project files that ``from/import`` names; empty for modules outside the project."""
        if level:
            base = importer.parent
            for _ in range(level - 1):
                base = base.parent
            parts = [p for p in name.split(".") if p]
            return self._existing(base, parts, attr)
        parts = name.split(".")
        top = self._locate_top(parts[0], importer)
        if top is None:
            return []
        return self._existing(top, parts, attr)

    def _locate_top(self, name: str, importer: Path) -> Path | None:
        """The folder holding top-level module ``name`` when it lies in the project."""
        if name in FRAMEWORK:
            return None
        for folder in (importer.parent, self.root):
            if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
                return folder if self._in_project(folder) else None
        if name in sys.builtin_module_names or name in sys.stdlib_module_names:
            return None
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
            return None
        origin = Path(spec.origin).resolve()
        holder = origin.parent.parent if origin.name == "__init__.py" else origin.parent
        return holder if self._in_project(origin) else None

    def _existing(self, base: Path, parts: list[str], attr: str | None) -> list[Path]:
        found: list[Path] = []
        module_path = base.joinpath(*parts) if parts else base
        if parts and module_path.with_suffix(".py").is_file():
            found.append(module_path.with_suffix(".py"))
        elif (module_path / "__init__.py").is_file():
            found.append(module_path / "__init__.py")
            if attr and attr != "*":
                sub = module_path / f"{attr}.py"
                if sub.is_file():
                    found.append(sub)
                elif (module_path / attr / "__init__.py").is_file():
                    found.append(module_path / attr / "__init__.py")
        elif not parts and attr:
            sub = base / f"{attr}.py"
            if sub.is_file():
                found.append(sub)
        return [f.resolve() for f in found if self._in_project(f)]

    def _in_project(self, path: Path) -> bool:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            return False
        return not any(part in _SKIP_DIRS for part in resolved.relative_to(self.root).parts)


def _source_without_decorators(source: str, node: ast.AST) -> str:
    segment = ast.get_source_segment(source, node) or ast.dump(node)
    return segment


def _names_used(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            names.add(sub.id)
    return names


def _imports_in(node: ast.AST) -> list[tuple[str, int, str | None]]:
    found: list[tuple[str, int, str | None]] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            found.extend((alias.name, 0, None) for alias in sub.names)
        elif isinstance(sub, ast.ImportFrom):
            found.extend((sub.module or "", sub.level, alias.name) for alias in sub.names)
    return found
