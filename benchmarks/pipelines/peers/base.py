"""What every tool in the pipeline benchmark provides: its files, its set-up and its commands."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from workloads import STEPS, Workload


@dataclass(frozen=True)
class Project:
    """One generated project of one tool for one workload, in its own temp folder."""

    dir: Path
    python: Path
    """The interpreter of the tool's environment."""
    workload: Workload

    @property
    def bin(self) -> Path:
        return self.python.parent


class Peer(ABC):
    """A tool implementing the chain workloads natively.

    ``first_run`` runs the pipeline with a never-seen parameter value; ``rerun`` is the
    tool's own way of running it again reusing everything it can.
    """

    name: str
    requirements: tuple[str, ...] = ()
    """Pinned pip requirements of the tool's own environment; empty means the project venv."""
    reuse: str = ""
    """How the re-run reuses earlier work, for the table."""
    reuses: bool = True
    """Whether the tool can reuse steps at all."""
    reuse_marker: str = ""
    """Text the tool prints once per reused step (checked in the logs)."""
    expected_reused: int = STEPS
    """How many steps the re-run should reuse."""
    compared: bool = True
    """Whether the tool competes for "best peer" (a reference tool does not)."""
    slow: bool = False
    """Skipped by ``--quick``."""
    unset: tuple[str, ...] = ()
    """Inherited environment variables removed for the tool's commands (its default mode)."""

    def reused_steps(self, log: str) -> int:
        """How many steps a run's output says were reused."""
        return log.count(self.reuse_marker) if self.reuse_marker else 0

    def env(self, project: Project) -> dict[str, str]:
        """Extra environment variables for every command of this tool."""
        return {}

    @abstractmethod
    def write(self, project: Project) -> None:
        """Generate the tool's workflow files into ``project.dir``."""

    def setup(self, project: Project) -> list[list[str]]:
        """Untimed commands that initialise the project (``dvc init``, ``zenml init``...)."""
        return []

    @abstractmethod
    def first_run(self, project: Project, value: str) -> list[str]:
        """The command that runs the pipeline with parameter ``x`` = ``value``.

        It may write what that command reads (DVC's ``params.yaml``).
        """

    @abstractmethod
    def rerun(self, project: Project, value: str) -> list[str]:
        """The command that runs it again, reusing what the first run computed."""
