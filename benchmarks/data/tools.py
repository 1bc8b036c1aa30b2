"""The two tools under test, each behind the same small interface.

A tool makes a fresh workspace for an input, says which bytes it will read (the benchmark warms
those into the page cache first), gives the command of one add, and checks what an add did:
the first add must register the content, the second (unchanged) add must not.

- gyre: ``gyre init`` in the workspace, then ``gyre data add NAME PATH`` with PATH the cached
  input itself (gyre copies it into its blob store). ``GYRE_URI`` names the workspace, so no
  ``gyre.yaml`` in a parent folder can redirect the command.
- DVC: ``dvc init --no-scm``; DVC only tracks paths inside its project, so the input is copied
  into the workspace first (not timed), then ``dvc add PATH``. DVC's per-machine state (its
  hash cache) goes into the workspace too (``DVC_SITE_CACHE_DIR``), so every workspace starts
  cold and is removed with it.
- The link modes, side by side: ``gyre data add --link`` (hard links into the blob store, the
  files made read-only) against DVC with ``cache.type hardlink`` (the same idea). Both link a
  copy of the input made in the workspace first (not timed), so the cached input stays as it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

from inputs import CACHE, REPO, Input
from processes import CommandFailed, Measured, run_quietly

DVC_PIN = "dvc==3.67.1"
DVC_VENV = CACHE.parent / "dvc-venv"
GYRE = REPO / ".venv" / "bin" / "gyre"
INSTALL_TIMEOUT_S = 1200


class Tool(Protocol):
    name: str

    def env(self, workspace: Path) -> dict[str, str]: ...
    def create(self, item: Input, workspace: Path) -> Path:
        """Make a fresh workspace; return the path the add command reads."""
        ...

    def add_argv(self, item: Input, data: Path) -> list[str]: ...
    def check_first(self, item: Input, workspace: Path, result: Measured) -> None: ...
    def check_unchanged(self, item: Input, workspace: Path, result: Measured) -> None: ...


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GYRE_", "DVC_"))}


class Gyre:
    name = "gyre"

    def env(self, workspace: Path) -> dict[str, str]:
        return {**_base_env(), "GYRE_URI": str(workspace / ".gyre")}

    def create(self, item: Input, workspace: Path) -> Path:
        run_quietly([str(GYRE), "init"], cwd=workspace, env=self.env(workspace))
        return item.path

    def add_argv(self, item: Input, data: Path) -> list[str]:
        return [str(GYRE), "data", "add", item.key, str(data)]

    def check_first(self, item: Input, workspace: Path, result: Measured) -> None:
        if not result.stdout.startswith(f"Registered {item.key}@1"):
            raise CommandFailed(f"gyre's first add did not register {item.key}@1:\n{result.stdout}")

    def check_unchanged(self, item: Input, workspace: Path, result: Measured) -> None:
        if not result.stdout.startswith("Unchanged:"):
            raise CommandFailed(f"gyre's unchanged re-add made a new version:\n{result.stdout}")


class Dvc:
    name = "DVC"

    def __init__(self) -> None:
        self.executable = install_dvc() / "bin" / "dvc"
        self.version = run_quietly([str(self.executable), "--version"], cwd=REPO).strip()
        self._before = ""

    def env(self, workspace: Path) -> dict[str, str]:
        return {
            **_base_env(),
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(workspace / ".dvc-site-cache"),
        }

    def create(self, item: Input, workspace: Path) -> Path:
        env = self.env(workspace)
        run_quietly([str(self.executable), "init", "--no-scm", "-q"], cwd=workspace, env=env)
        run_quietly(
            [str(self.executable), "config", "core.check_update", "false"], cwd=workspace, env=env
        )
        data = workspace / item.path.name
        if item.path.is_dir():
            shutil.copytree(item.path, data)
        else:
            shutil.copyfile(item.path, data)
        return data

    def add_argv(self, item: Input, data: Path) -> list[str]:
        return [str(self.executable), "add", "-q", data.name]

    def _record(self, item: Input, workspace: Path) -> str:
        dvc_file = workspace / f"{item.path.name}.dvc"
        objects = sum(len(files) for _, _, files in os.walk(workspace / ".dvc" / "cache"))
        return f"{dvc_file.read_text()}\ncache objects: {objects}"

    def check_first(self, item: Input, workspace: Path, result: Measured) -> None:
        self._before = self._record(item, workspace)
        if f"nfiles: {item.files}" not in self._before and item.files > 1:
            raise CommandFailed(
                f"DVC's first add did not track {item.files} files:\n{self._before}"
            )

    def check_unchanged(self, item: Input, workspace: Path, result: Measured) -> None:
        after = self._record(item, workspace)
        if after != self._before:
            raise CommandFailed(
                f"DVC's unchanged re-add changed its record:\n{self._before}\n---\n{after}"
            )


def install_dvc() -> Path:
    """DVC's own virtual environment (created on first use; a changed pin re-creates it)."""
    python = DVC_VENV / "bin" / "python"
    stamp = DVC_VENV / "installed.txt"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == DVC_PIN:
        return DVC_VENV
    shutil.rmtree(DVC_VENV, ignore_errors=True)
    DVC_VENV.parent.mkdir(parents=True, exist_ok=True)
    print(f"  installing {DVC_PIN} into {DVC_VENV} (once) ...", flush=True)
    started = time.perf_counter()
    log = DVC_VENV.with_suffix(".install.log")
    with open(log, "wb") as out:
        for argv in (
            [sys.executable, "-m", "venv", str(DVC_VENV)],
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", DVC_PIN],
        ):
            done = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, check=False
            )
            if done.returncode != 0:
                raise CommandFailed(f"{' '.join(argv)} failed; see {log}")
    stamp.write_text(DVC_PIN + "\n")
    print(f"  installed DVC in {time.perf_counter() - started:.0f} s", flush=True)
    return DVC_VENV


class GyreLinked(Gyre):
    name = "gyre-link"

    def create(self, item: Input, workspace: Path) -> Path:
        super().create(item, workspace)
        return _copy_input(item, workspace)

    def add_argv(self, item: Input, data: Path) -> list[str]:
        return [*super().add_argv(item, data), "--link"]


class DvcHardlink(Dvc):
    name = "DVC-hardlink"

    def create(self, item: Input, workspace: Path) -> Path:
        data = super().create(item, workspace)
        run_quietly(
            [str(self.executable), "config", "cache.type", "hardlink"],
            cwd=workspace,
            env=self.env(workspace),
        )
        return data


def _copy_input(item: Input, workspace: Path) -> Path:
    data = workspace / "input" / item.path.name
    data.parent.mkdir()
    if item.path.is_dir():
        shutil.copytree(item.path, data)
    else:
        shutil.copyfile(item.path, data)
    return data
