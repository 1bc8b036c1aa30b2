"""MLflow's run routes: create, get, update (end), delete; log-metric, log-parameter,
set-tag, log-batch; metrics/get-history. Each calls one capability of ``gyre.tracking``.

Differences a client may notice: gyre closes a finished run to new metrics and params (tags
and artifacts are still taken), deletes a run for good (no restore), and keeps a run's name
as it was created.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field, StringConstraints

from gyre.errors import InvalidParameter
from gyre.server.access import Workspace, requires
from gyre.server.mlflow.entities import (
    FROM_MLFLOW_STATUS,
    MAX_PARAM_VALUE,
    MAX_RUN_NAME,
    Key,
    KeyValue,
    Message,
    MLflowJSON,
    RunId,
    experiment_name,
    millis,
    mlflow_status,
    number,
    offset_of,
    run_info,
    run_message,
    seconds,
)
from gyre.server.mlflow.refusals import refuse
from gyre.tracking import recording, run_details

router = APIRouter(
    prefix="/api/2.0/mlflow", default_response_class=MLflowJSON, include_in_schema=False
)
reader = [Depends(requires("reader"))]
contributor = [Depends(requires("contributor"))]

Millis = Annotated[int, Field(ge=0, le=2**53)]
Step = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100


class RunRequest(Message):
    """A body naming a run by ``run_id`` (or the older ``run_uuid``)."""

    run_id: RunId | None = None
    run_uuid: RunId | None = None

    @property
    def run(self) -> str:
        if not (self.run_id or self.run_uuid):
            raise InvalidParameter("Give run_id, the run to work on.", field="run_id")
        return self.run_id or self.run_uuid or ""


class CreateRun(Message):
    experiment_id: Annotated[str, StringConstraints(max_length=1000)] | None = None
    user_id: Annotated[str, StringConstraints(max_length=250)] | None = None
    start_time: Millis | None = None
    tags: Annotated[list[KeyValue], Field(max_length=MAX_BATCH_TAGS)] = []
    run_name: Annotated[str, StringConstraints(max_length=MAX_RUN_NAME)] | None = None


class UpdateRun(RunRequest):
    status: str | int | None = None
    end_time: Millis | None = None
    run_name: Annotated[str, StringConstraints(max_length=MAX_RUN_NAME)] | None = None


class MetricValue(Message):
    key: Key
    value: float
    timestamp: Millis | None = None
    step: Step = 0


class LogMetric(RunRequest, MetricValue):
    pass


class Param(Message):
    key: Key
    value: Annotated[str, StringConstraints(max_length=MAX_PARAM_VALUE)]


class LogParam(RunRequest, Param):
    pass


class SetTag(RunRequest, KeyValue):
    pass


class LogBatch(RunRequest):
    metrics: list[MetricValue] = []
    params: list[Param] = []
    tags: list[KeyValue] = []


def _point(metric: MetricValue) -> recording.Point:
    return recording.Point(metric.key, metric.value, metric.step, seconds(metric.timestamp))


def _run(store: Any, run_id: str) -> dict[str, Any]:
    detail = run_details.run_detail(store, run_id)
    record = run_details.get_run(store, detail["id"])
    return run_message(
        record, detail["params"], detail["tags"], detail["metrics"], detail["status"]
    )


@router.post("/runs/create", dependencies=contributor)
def create_run(store: Workspace, body: CreateRun) -> dict[str, Any]:
    experiment = experiment_name(body.experiment_id)
    tags = {t.key: t.value for t in body.tags}
    if body.user_id and "mlflow.user" not in tags:
        tags["mlflow.user"] = body.user_id
    name = body.run_name or tags.get("mlflow.runName") or None
    if name is not None and len(name) > MAX_RUN_NAME:
        raise InvalidParameter(
            f"The run name is {len(name)} characters; give at most {MAX_RUN_NAME}.",
            field="run_name",
        )
    record = recording.create_run(
        store, experiment=experiment, name=name, tags=tags, started_at=seconds(body.start_time)
    )
    return {"run": run_message(record, {}, tags, {})}


@router.get("/runs/get", dependencies=reader)
def get_run(
    store: Workspace,
    run_id: Annotated[str, Query(max_length=64)] = "",
    run_uuid: Annotated[str, Query(max_length=64)] = "",
) -> dict[str, Any]:
    if not (run_id or run_uuid):
        raise InvalidParameter("Give run_id.", field="run_id")
    return {"run": _run(store, run_id or run_uuid)}


@router.post("/runs/update", dependencies=contributor)
def update_run(store: Workspace, body: UpdateRun) -> dict[str, Any]:
    status = mlflow_status(body.status)
    record = run_details.get_run(store, body.run)
    if body.run_name is not None and body.run_name != record.name:
        refuse("renaming a run (a run keeps the name it was created with)")
    if status is not None and FROM_MLFLOW_STATUS[status] in recording.END_STATUSES:
        record = recording.end_run(
            store, record.id, FROM_MLFLOW_STATUS[status], ended_at=seconds(body.end_time)
        )
    elif status is not None and record.status != FROM_MLFLOW_STATUS[status]:
        refuse(f"moving a {record.status} run back to {status}")
    with_tags = run_details.run_detail(store, record.id)["tags"]
    return {"run_info": run_info(record, with_tags)}


@router.post("/runs/delete", dependencies=contributor)
def delete_run(store: Workspace, body: RunRequest) -> dict[str, Any]:
    run_details.delete_runs(store, [body.run])
    return {}


@router.post("/runs/log-metric", dependencies=contributor)
def log_metric(store: Workspace, body: LogMetric) -> dict[str, Any]:
    recording.log_points(store, body.run, [_point(body)])
    return {}


@router.post("/runs/log-parameter", dependencies=contributor)
def log_param(store: Workspace, body: LogParam) -> dict[str, Any]:
    recording.log_params(store, body.run, {body.key: body.value})
    return {}


@router.post("/runs/set-tag", dependencies=contributor)
def set_tag(store: Workspace, body: SetTag) -> dict[str, Any]:
    recording.set_tags(store, body.run, {body.key: body.value})
    return {}


@router.post("/runs/log-batch", dependencies=contributor)
def log_batch(store: Workspace, body: LogBatch) -> dict[str, Any]:
    for what, items, most in (
        ("metrics", body.metrics, MAX_BATCH_METRICS),
        ("params", body.params, MAX_BATCH_PARAMS),
        ("tags", body.tags, MAX_BATCH_TAGS),
    ):
        if len(items) > most:
            raise InvalidParameter(
                f"log-batch got {len(items)} {what}; send at most {most} per call (MLflow's "
                "limit; its client splits larger batches).",
                field=what,
            )
    params: dict[str, str] = {}
    for param in body.params:
        if params.setdefault(param.key, param.value) != param.value:
            raise InvalidParameter(
                f"log-batch sets param {param.key!r} twice with different values; params are "
                "immutable.",
                field="params",
            )
    # Params first: a conflicting param refuses the batch before any metric is written.
    if params:
        recording.log_params(store, body.run, params)
    if body.metrics:
        recording.log_points(store, body.run, [_point(m) for m in body.metrics])
    if body.tags:
        recording.set_tags(store, body.run, {t.key: t.value for t in body.tags})
    if not (params or body.metrics or body.tags):
        run_details.get_run(store, body.run)  # an empty batch still names a run that exists
    return {}


@router.get("/metrics/get-history", dependencies=reader)
def get_metric_history(
    store: Workspace,
    metric_key: Annotated[str, Query(max_length=250)] = "",
    run_id: Annotated[str, Query(max_length=64)] = "",
    run_uuid: Annotated[str, Query(max_length=64)] = "",
    max_results: Annotated[int, Query(ge=1, le=1_000_000)] | None = None,
    page_token: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    if not (run_id or run_uuid):
        raise InvalidParameter("Give run_id.", field="run_id")
    if not metric_key:
        raise InvalidParameter("Give metric_key.", field="metric_key")
    histories = run_details.metric_histories(store, run_id or run_uuid, key=metric_key)
    points = histories.get(metric_key, [])
    offset = offset_of(page_token)
    end = len(points) if max_results is None else offset + max_results
    answer: dict[str, Any] = {
        "metrics": [
            {"key": metric_key, "value": number(v), "timestamp": millis(t), "step": s}
            for s, v, t in points[offset:end]
        ]
    }
    if end < len(points):
        answer["next_page_token"] = str(end)
    return answer
