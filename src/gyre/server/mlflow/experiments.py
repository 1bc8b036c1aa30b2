"""MLflow's experiment routes: create, get, get-by-name, search.

An experiment exists in gyre once it has a run: creating one checks the name and hands back
its id, and the first run made with that id brings it into being. Getting an experiment by
id always answers (an empty one has no runs); by name it is RESOURCE_DOES_NOT_EXIST until
its first run, as MLflow's client expects before it creates one.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field, StringConstraints

from gyre.errors import Conflict, InvalidParameter, NotFound
from gyre.server.access import Workspace, requires
from gyre.server.mlflow.entities import (
    DEFAULT_EXPERIMENT,
    KeyValue,
    Message,
    MLflowJSON,
    PageToken,
    check_experiment_name,
    experiment_id,
    experiment_name,
    millis,
    offset_of,
)
from gyre.server.mlflow.refusals import refuse
from gyre.tracking import experiments
from gyre.tracking.experiments import ExperimentSummary

router = APIRouter(
    prefix="/api/2.0/mlflow/experiments",
    default_response_class=MLflowJSON,
    include_in_schema=False,
)
reader = [Depends(requires("reader"))]
contributor = [Depends(requires("contributor"))]

Name = Annotated[str, StringConstraints(max_length=1000)]


class CreateExperiment(Message):
    name: Name
    artifact_location: Annotated[str, StringConstraints(max_length=2000)] | None = None
    tags: Annotated[list[KeyValue], Field(max_length=100)] = []


class SearchExperiments(Message):
    max_results: Annotated[int, Field(ge=1, le=50_000)] = 1000
    page_token: PageToken = None
    filter: Annotated[str, StringConstraints(max_length=2000)] | None = None
    order_by: Annotated[
        list[Annotated[str, StringConstraints(max_length=250)]], Field(max_length=5)
    ] = []
    view_type: str | int | None = None


def _experiment(name: str, summary: ExperimentSummary | None) -> dict[str, Any]:
    eid = experiment_id(name)
    return {
        "experiment_id": eid,
        "name": name,
        "artifact_location": f"mlflow-artifacts:/{eid}",
        "lifecycle_stage": "active",
        "creation_time": millis(summary.first_created_at) if summary else 0,
        "last_update_time": millis(summary.last_created_at) if summary else 0,
        "tags": [],
    }


@router.post("/create", dependencies=contributor)
def create_experiment(store: Workspace, body: CreateExperiment) -> dict[str, Any]:
    name = check_experiment_name(body.name)
    if body.artifact_location:
        refuse(
            "an experiment's own artifact_location (artifacts go to the workspace's artifact "
            "store, through this server)"
        )
    if body.tags:
        refuse("experiment tags")
    if name == DEFAULT_EXPERIMENT or experiments.find_experiment(store, name) is not None:
        raise Conflict(
            f"Experiment {name!r} already exists (id {experiment_id(name)}); use it "
            "(mlflow.set_experiment) or pick another name."
        )
    return {"experiment_id": experiment_id(name)}


@router.get("/get", dependencies=reader)
def get_experiment(
    store: Workspace, experiment_id: Annotated[str, Query(max_length=1000)] = ""
) -> dict[str, Any]:
    if not experiment_id:
        raise InvalidParameter("Give experiment_id.", field="experiment_id")
    name = experiment_name(experiment_id)
    return {"experiment": _experiment(name, experiments.find_experiment(store, name))}


@router.get("/get-by-name", dependencies=reader)
def get_experiment_by_name(
    store: Workspace, experiment_name: Annotated[str, Query(max_length=1000)] = ""
) -> dict[str, Any]:
    name = check_experiment_name(experiment_name)
    summary = experiments.find_experiment(store, name)
    if summary is None and name != DEFAULT_EXPERIMENT:
        raise NotFound(f"No experiment named {name!r} has runs yet; create it first.")
    return {"experiment": _experiment(name, summary)}


_NAME_FILTER = re.compile(
    r"""^\s*(?:attributes?\.|attr\.)?name\s+(=|!=|LIKE|ILIKE)\s+('([^']*)'|"([^"]*)")\s*$""",
    re.IGNORECASE,
)
_ORDER = re.compile(
    r"^\s*(?:attributes?\.|attr\.)?(name|creation_time|last_update_time|experiment_id)"
    r"(?:\s+(ASC|DESC))?\s*$",
    re.IGNORECASE,
)


def _name_test(text: str | None) -> Any:
    if not text or not text.strip():
        return lambda name: True
    match = _NAME_FILTER.match(text)
    if not match:
        refuse(
            f"the experiment filter {text[:200]!r} (filter experiments by name only: "
            "name = 'x', name LIKE 'x%', name ILIKE 'x%')"
        )
    op = match.group(1).upper()
    value = match.group(3) if match.group(3) is not None else match.group(4)
    if op == "=":
        return lambda name: name == value
    if op == "!=":
        return lambda name: name != value
    pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value)
    flags = re.IGNORECASE if op == "ILIKE" else 0
    compiled = re.compile(pattern + r"\Z", flags | re.DOTALL)
    return lambda name: compiled.match(name) is not None


@router.post("/search", dependencies=reader)
def search_experiments(store: Workspace, body: SearchExperiments) -> dict[str, Any]:
    if str(body.view_type).upper() in ("DELETED_ONLY", "2"):
        return {"experiments": []}
    test = _name_test(body.filter)
    summaries = {s.name: s for s in experiments.list_experiments(store)}
    names = sorted({DEFAULT_EXPERIMENT, *summaries})
    found = [_experiment(n, summaries.get(n)) for n in names if test(n)]
    orders = body.order_by or ["creation_time DESC"]
    for clause in reversed(orders):
        match = _ORDER.match(clause)
        if not match:
            refuse(
                f"ordering experiments by {clause[:100]!r} (order by name, creation_time or "
                "last_update_time, ASC or DESC)"
            )
        key = match.group(1).lower()
        found.sort(key=lambda e: e[key], reverse=(match.group(2) or "ASC").upper() == "DESC")
    offset = offset_of(body.page_token)
    page = found[offset : offset + body.max_results]
    answer: dict[str, Any] = {"experiments": page}
    if offset + body.max_results < len(found):
        answer["next_page_token"] = str(offset + body.max_results)
    return answer
