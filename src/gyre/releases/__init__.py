"""Releases: a new model version goes through stages (deploy, checks, approval, canary
rollout) to production, driven by the agent as a persisted state machine. The capability
behind ``gyre release``."""

from gyre.releases.decisions import (
    apply,
    approve,
    cancel,
    current_user,
    definitions,
    get,
    list_releases,
    reject,
    retry,
    rollback,
    spec_of,
)
from gyre.releases.engine import STEP_JOB, on_registered, run_transition, start
from gyre.releases.spec import ReleaseSpec, parse
from gyre.store.releases import DefinitionRow, ReleaseRow

__all__ = [
    "STEP_JOB",
    "DefinitionRow",
    "ReleaseRow",
    "ReleaseSpec",
    "apply",
    "approve",
    "cancel",
    "current_user",
    "definitions",
    "get",
    "list_releases",
    "on_registered",
    "parse",
    "reject",
    "retry",
    "rollback",
    "run_transition",
    "spec_of",
    "start",
]
