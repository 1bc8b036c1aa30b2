"""Find runs: ``--filter "metrics.val_accuracy > 0.9 and params.epochs = 20"`` and ordering.

Grammar: conditions joined by ``and``; each is ``FIELD OP VALUE`` where FIELD is
``metrics.K`` (the metric's latest value), ``params.K``, ``tags.K`` or an attribute
(``status``, ``name``, ``experiment``, ``kind``, ``duration``, ``created``), OP is one of
``= != < <= > >=`` and VALUE a number or a quoted string.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from gyre.errors import InvalidParameter
from gyre.store import Store, run_search
from gyre.store import metrics as metric_rows
from gyre.store import runs as run_rows
from gyre.store.runs import RunRecord as RunRecord

_CONDITION = re.compile(
    r"""^\s*([A-Za-z_][\w.\-/]*)\s*(<=|>=|!=|=|<|>)\s*("[^"]*"|'[^']*'|[\w.+\-:]+)\s*$"""
)
_ATTRIBUTES = ("status", "name", "experiment", "kind", "duration", "created")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass
class RunRow:
    """A run with what filters and tables need: params, tags and latest metrics."""

    record: RunRecord
    params: dict[str, Any]
    tags: dict[str, str]
    metrics: dict[str, float]

    def value(self, field: str) -> Any:
        prefix, _, key = field.partition(".")
        if prefix == "metrics":
            return self.metrics.get(key)
        if prefix == "params":
            return self.params.get(key)
        if prefix == "tags":
            return self.tags.get(key)
        if field == "duration":
            return self.record.duration
        if field == "created":
            return self.record.created_at
        return getattr(self.record, field, None)


def parse_filter(text: str | None) -> list[Condition]:
    if not text or not text.strip():
        return []
    conditions = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CONDITION.match(part)
        if not match:
            raise InvalidParameter(
                f"--filter: cannot read {part!r}. Write conditions like "
                '"metrics.val_accuracy > 0.9 and params.epochs = 20".'
            )
        field, op, raw = match.groups()
        _check_field(field)
        conditions.append(Condition(field, op, _literal(raw)))
    return conditions


def _check_field(field: str) -> None:
    prefix, dot, key = field.partition(".")
    if dot and prefix in ("metrics", "params", "tags") and key:
        return
    if not dot and field in _ATTRIBUTES:
        return
    raise InvalidParameter(
        f"--filter/--order-by: unknown field {field!r}. Use metrics.NAME, params.NAME, "
        f"tags.NAME or one of {', '.join(_ATTRIBUTES)}."
    )


def _literal(raw: str) -> Any:
    if raw[:1] in ("'", '"'):
        return shlex.split(raw)[0]
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def find_runs(
    store: Store,
    *,
    filter_text: str | None = None,
    order_by: str | None = None,
    experiment: str | None = None,
    kinds: tuple[str, ...] = ("pipeline", "run"),
    limit: int = 50,
) -> list[RunRow]:
    """Runs matching the filter, newest first unless ``order_by`` says otherwise, evaluated
    in the database. A pipeline run matches a metric, param or tag condition when it or one
    of its steps does; its row shows its steps' latest metrics too.

    ``order_by`` is a field, optionally followed by ``asc`` or ``desc`` (default: desc).
    """
    conditions = parse_filter(filter_text)
    order_field = None
    descending = True
    if order_by:
        parts = order_by.split()
        order_field = parts[0]
        _check_field(order_field)
        if len(parts) > 1:
            descending = parts[1].lower() != "asc"
    criteria = [run_search.Criterion(c.field, c.op, c.value) for c in conditions]
    with store.read() as tx:
        records = run_search.search(
            tx,
            criteria,
            kinds=kinds,
            experiment=experiment,
            order_field=order_field,
            descending=descending,
            limit=limit,
        )
        members = {r.id: [r.id] for r in records}
        pipelines = [r.id for r in records if r.kind == "pipeline"]
        for child in run_rows.children_of(tx, pipelines):
            members[child.parent_id or ""].append(child.id)
        every = [run_id for ids in members.values() for run_id in ids]
        latest = metric_rows.latest(tx, every) if every else {}
        rows = []
        for record in records:
            metrics: dict[str, float] = {}
            for member in reversed(members[record.id]):  # the run's own values win
                metrics.update(latest.get(member, {}))
            rows.append(
                RunRow(
                    record,
                    run_rows.get_params(tx, record.id),
                    run_rows.get_tags(tx, record.id),
                    metrics,
                )
            )
    return rows
