"""The ``ci:`` section of ``gyre.yaml``; every key is optional.

.. code-block:: yaml

    ci:
      lint: [check, src, tests]   # ruff's arguments (true: "check ."; false: off)
      tests: [-q, tests]          # pytest's arguments (true: "-q"; false: off)
      notebooks: true
      pipelines: [pipeline.py:seer]   # default: every @pipeline function of the project
      dependencies: true          # requirement files pinned, or a lock file
      releases: true              # every release.yaml is a valid release definition
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter

GATES = ("lint", "tests", "notebooks", "pipelines", "dependencies", "releases")


@dataclass(frozen=True)
class CiSettings:
    off: frozenset[str] = frozenset()
    lint_args: list[str] | None = None
    test_args: list[str] | None = None
    pipelines: list[str] | None = None
    source: str = "defaults"  # the gyre.yaml they came from

    def enabled(self, gate: str) -> bool:
        return gate not in self.off


def load(root: Path) -> CiSettings:
    path = root / "gyre.yaml"
    if not path.exists():
        return CiSettings()
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"{path} is not valid YAML: {exc}. Fix the file.") from None
    section = data.get("ci") if isinstance(data, dict) else None
    if section is None:
        return CiSettings(source=str(path))
    if not isinstance(section, dict):
        raise InvalidParameter(
            f"'ci:' in {path} must be a mapping of gates (lint, tests, notebooks, pipelines, "
            "dependencies, releases), e.g. 'ci: {tests: [-q, tests]}'.",
            field="ci",
        )
    unknown = sorted(set(section) - set(GATES))
    if unknown:
        raise InvalidParameter(
            f"Unknown key(s) {', '.join(unknown)} under 'ci:' in {path}; the gates are "
            f"{', '.join(GATES)}.",
            field=f"ci.{unknown[0]}",
        )
    off = frozenset(name for name, value in section.items() if value is False)
    return CiSettings(
        off=off,
        lint_args=_args(section.get("lint"), path, "lint"),
        test_args=_args(section.get("tests"), path, "tests"),
        pipelines=_args(section.get("pipelines"), path, "pipelines"),
        source=str(path),
    )


def _args(value: Any, path: Path, key: str) -> list[str] | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return [str(v) for v in value]
    raise InvalidParameter(
        f"'ci: {key}:' in {path} must be true, false or a list of strings, not {value!r}.",
        field=f"ci.{key}",
    )
