"""How gyre's runs and experiments look to an MLflow client, and back.

Experiment ids: gyre has no experiment table, an experiment is the name runs carry. An
MLflow experiment id is that name spelled in hex (``"seer"`` is ``"73656572"``), so any
server process turns an id back into its name without a lookup; ``"0"``, MLflow's default
experiment, is gyre's ``default``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gyre.errors import InvalidParameter, NotFound

if TYPE_CHECKING:
    from gyre.store.runs import RunRecord

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT = "default"
MAX_EXPERIMENT_NAME = 200  # the runs.experiment column
MAX_RUN_NAME = 200  # the runs.name column
MAX_KEY = 250
MAX_PARAM_VALUE = 6000  # MLflow's own limit
MAX_TAG_VALUE = 8000

Key = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY)]
RunId = Annotated[str, StringConstraints(min_length=1, max_length=64)]

# MLflow's RunStatus <-> gyre's run status.
TO_MLFLOW_STATUS = {
    "queued": "SCHEDULED",
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "cancelled": "KILLED",
    "killed": "KILLED",
}
FROM_MLFLOW_STATUS = {
    "SCHEDULED": "queued",
    "RUNNING": "running",
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "cancelled",
}
_STATUS_NUMBERS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


class Message(BaseModel):
    """A request body: MLflow's JSON names; fields this server does not use are ignored
    (clients send ``run_uuid`` beside ``run_id``, newer clients add fields)."""

    model_config = ConfigDict(extra="ignore")


class KeyValue(Message):
    key: Key
    value: Annotated[str, StringConstraints(max_length=MAX_TAG_VALUE)] = ""


class MLflowJSON(Response):
    """JSON as MLflow's protobuf reader takes it: non-finite numbers were made strings."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def experiment_id(name: str) -> str:
    if name == DEFAULT_EXPERIMENT:
        return DEFAULT_EXPERIMENT_ID
    return name.encode().hex()


def experiment_name(eid: str | None) -> str:
    """The experiment an id names; NotFound for an id this server never gave out."""
    if eid is None or eid in ("", DEFAULT_EXPERIMENT_ID):
        return DEFAULT_EXPERIMENT
    try:
        name = bytes.fromhex(eid).decode()
    except (ValueError, UnicodeDecodeError):
        name = ""
    if not name or len(name) > MAX_EXPERIMENT_NAME or "\x00" in name or len(eid) % 2:
        raise NotFound(
            f"No experiment has id {eid[:80]!r}: gyre's experiment ids are the hex of their "
            "names ('0' is the default). Look it up by name (experiments/get-by-name)."
        )
    return name


def check_experiment_name(name: str) -> str:
    if not name or len(name) > MAX_EXPERIMENT_NAME or "\x00" in name:
        raise InvalidParameter(
            f"The experiment name {name[:80]!r} is not usable: give 1 to "
            f"{MAX_EXPERIMENT_NAME} characters without NUL.",
            field="name",
        )
    return name


def mlflow_status(value: str | int | None) -> str | None:
    """An MLflow RunStatus given by name or number, checked; None when absent."""
    if value is None:
        return None
    name = _STATUS_NUMBERS.get(value) if isinstance(value, int) else str(value).upper()
    if name not in FROM_MLFLOW_STATUS:
        raise InvalidParameter(
            f"Run status {value!r} is not one of {', '.join(FROM_MLFLOW_STATUS)}.",
            field="status",
        )
    return name


def millis(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


def number(value: float) -> float | str:
    """A metric value for protobuf's JSON: NaN and the infinities as its strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def param_text(value: Any) -> str:
    """A gyre param (any JSON value) as MLflow's string."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def artifact_uri(record: RunRecord) -> str:
    return f"mlflow-artifacts:/{experiment_id(record.experiment)}/{record.id}/artifacts"


def run_info(
    record: RunRecord, tags: Mapping[str, str], status: str | None = None
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": record.id,
        "run_uuid": record.id,
        "run_name": record.name,
        "experiment_id": experiment_id(record.experiment),
        "user_id": tags.get("mlflow.user", ""),
        "status": TO_MLFLOW_STATUS.get(status or record.status, "RUNNING"),
        "start_time": millis(record.started_at or record.created_at),
        "artifact_uri": artifact_uri(record),
        "lifecycle_stage": "active",
    }
    if record.ended_at is not None:
        info["end_time"] = millis(record.ended_at)
    return info


def run_message(
    record: RunRecord,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    metrics: Mapping[str, float],
    status: str | None = None,
) -> dict[str, Any]:
    """A run as MLflow's ``Run``: info, and data with each metric's latest value (its step
    and time are in get-history; here the run's last time and step 0 stand in)."""
    stamp = millis(record.ended_at or record.started_at or record.created_at)
    shown_tags = {"mlflow.runName": record.name, **tags}
    return {
        "info": run_info(record, tags, status),
        "data": {
            "metrics": [
                {"key": k, "value": number(v), "timestamp": stamp, "step": 0}
                for k, v in sorted(metrics.items())
            ],
            "params": [{"key": k, "value": param_text(v)} for k, v in sorted(params.items())],
            "tags": [{"key": k, "value": v} for k, v in sorted(shown_tags.items())],
        },
        "inputs": {},
    }


PageToken = Annotated[str | None, Field(default=None, max_length=20)]


def offset_of(token: str | None) -> int:
    """Pages are offsets; a token is the decimal offset of the next page."""
    if not token:
        return 0
    if not (token.isascii() and token.isdigit()) or int(token) > 10_000_000:
        raise InvalidParameter(
            f"page_token {token!r} is not one this server gave out; start again without it.",
            field="page_token",
        )
    return int(token)
