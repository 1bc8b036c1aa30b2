"""Experiments: the names runs are grouped under. gyre keeps no table of them: an experiment
exists once it has a run, and is named by that run's ``experiment``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gyre.store import experiments as experiment_rows
from gyre.store.experiments import ExperimentSummary

if TYPE_CHECKING:
    from gyre.store import Store

__all__ = ["ExperimentSummary", "find_experiment", "list_experiments"]


def list_experiments(store: Store) -> list[ExperimentSummary]:
    """Every experiment that has runs, by name, with its run count and first/last run times."""
    with store.read() as tx:
        return experiment_rows.summaries(tx)


def find_experiment(store: Store, name: str) -> ExperimentSummary | None:
    """The experiment ``name``, or None while it has no runs."""
    with store.read() as tx:
        found = experiment_rows.summaries(tx, name)
    return found[0] if found else None
