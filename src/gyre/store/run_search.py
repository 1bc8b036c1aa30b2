"""Search runs in SQL: conditions on metrics, params, tags and attributes, an order, a limit.

A pipeline run matches a condition on a metric, param or tag when the run itself or one of
its steps does (metrics are logged in steps; the run is what users look for). A metric's
value is its latest (highest step), kept per run and key in ``latest_metrics``. Numbers
compare as numbers and text as text, on SQLite and PostgreSQL alike; a value that is not a
number never matches a numeric comparison.

Each condition is one uncorrelated subquery (the runs, or the parents of the steps, whose
value matches), so the database computes it once however many runs there are; ordering by a
metric joins one aggregate of the latest values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gyre.store.database import Transaction
from gyre.store.runs import _RUN_COLUMNS, RunRecord, record_from_row

OPS = ("=", "!=", "<", "<=", ">", ">=")
ATTRIBUTES = {
    "status": "r.status",
    "name": "r.name",
    "experiment": "r.experiment",
    "kind": "r.kind",
    "duration": "(r.ended_at - r.started_at)",
    "created": "r.created_at",
}


@dataclass(frozen=True)
class Criterion:
    """``field op value``; field is ``metrics.K``, ``params.K``, ``tags.K`` or an attribute."""

    field: str
    op: str
    value: Any


def search(
    tx: Transaction,
    criteria: list[Criterion],
    *,
    kinds: tuple[str, ...],
    experiment: str | None = None,
    order_field: str | None = None,
    descending: bool = True,
    limit: int = 50,
) -> list[RunRecord]:
    """Runs of ``kinds`` matching every criterion, ordered, at most ``limit``."""
    ctes: list[str] = []
    cte_params: list[Any] = []
    where = [f"r.kind IN ({', '.join('?' for _ in kinds)})"]
    where_params: list[Any] = list(kinds)
    if experiment:
        where.append("r.experiment = ?")
        where_params.append(experiment)
    by = "run_id" if "step" in kinds else "owner"  # steps match as themselves
    for index, criterion in enumerate(criteria):
        name = f"match{index}"
        broad = _broad_metric_test(tx, criterion, steps="step" in kinds)
        if broad is not None:
            where.append(broad[0])
            where_params.extend(broad[1])
            continue
        matched = _matching_members(tx.dialect, criterion)
        if matched is None:
            column = ATTRIBUTES[criterion.field]
            where.append(f"{column} {criterion.op} ?")
            where_params.append(_plain(criterion.value))
            continue
        query, params = matched
        ctes.append(f"{name} AS MATERIALIZED ({_with_owner(query)})")
        cte_params.extend(params)
        where.append(f"r.id IN (SELECT {by} FROM {name})")
    columns = ", ".join(f"r.{c}" for c in _RUN_COLUMNS)
    condition = " AND ".join(where)
    member = _member_values(tx.dialect, order_field) if order_field else None
    direction = "DESC" if descending else "ASC"
    if member is not None:
        # Runs with the value, driven from the values (a primary-key probe each), then runs
        # without it: a join the other way round has no index to use on SQLite.
        query, params = member
        ctes.append(
            f"ordered AS MATERIALIZED (SELECT {by}, MAX(value) AS value FROM "
            f"({_with_owner(query)}) o GROUP BY {by})"
        )
        cte_params.extend(params)
        # Runs without the value: an anti-join on PostgreSQL (NOT IN over 100,000 rows that do
        # not fit work_mem is quadratic there), NOT IN on SQLite (which indexes it).
        missing = (
            f"NOT EXISTS (SELECT 1 FROM ordered x WHERE x.{by} = r.id)"
            if tx.dialect == "postgresql"
            else f"r.id NOT IN (SELECT {by} FROM ordered)"
        )
        body = (
            f"SELECT {columns}, o.value AS sort_value FROM ordered o JOIN runs r "
            f"ON r.id = o.{by} WHERE {condition} UNION ALL "
            f"SELECT {columns}, NULL AS sort_value FROM runs r WHERE {condition} "
            f"AND {missing}"
        )
        select = (
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM ({body}) found ORDER BY sort_value IS NULL, "
            f"sort_value {direction}, created_at DESC LIMIT ?"
        )
        where_params = where_params * 2
    else:
        expression = ATTRIBUTES[order_field] if order_field else "r.created_at"
        order = f"{expression} IS NULL, {expression} {direction}, r.created_at DESC"
        if not order_field:
            order = "r.created_at DESC"
        select = f"SELECT {columns} FROM runs r WHERE {condition} ORDER BY {order} LIMIT ?"
    with_clause = f"WITH {', '.join(ctes)} " if ctes else ""
    sql = with_clause + select
    if tx.dialect == "postgresql":
        # Its cost estimate for the latest-value subqueries is far too high, and JIT then
        # spends 0.5-1 s compiling a query that runs in a fraction of that.
        tx.execute("SET LOCAL jit = off")
    rows = tx.all(sql, [*cte_params, *where_params, limit])
    return [record_from_row(row) for row in rows]


BROAD = 2000
"""Matching latest values from which a metric condition is tested run by run (see below)."""


def _broad_metric_test(
    tx: Transaction, criterion: Criterion, *, steps: bool
) -> tuple[str, list[Any]] | None:
    """On PostgreSQL, a metric condition that many runs meet, as a test of each run: the
    newest runs are walked (an index on created_at) and the first ``limit`` that pass are the
    answer, a few hundred primary-key probes however many runs match. A condition few runs
    meet (fewer than ``BROAD`` latest values) is better as the set of matches (the general
    path); one probe of the (key, value) index tells which, in a few milliseconds."""
    prefix, _, key = criterion.field.partition(".")
    value = criterion.value
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if tx.dialect != "postgresql" or prefix != "metrics" or not numeric:
        return None
    test = f"l.key = ? AND l.value {criterion.op} ?"
    found = tx.scalar(
        f"SELECT count(*) FROM (SELECT 1 FROM latest_metrics l WHERE {test} LIMIT {BROAD}) x",
        [key, value],
    )
    if int(found or 0) < BROAD:
        return None
    own = f"EXISTS (SELECT 1 FROM latest_metrics l WHERE l.run_id = r.id AND {test})"
    if steps:
        return own, [key, value]
    of_steps = (
        "(r.kind = 'pipeline' AND EXISTS (SELECT 1 FROM runs c JOIN latest_metrics l "
        f"ON l.run_id = c.id WHERE c.parent_id = r.id AND {test}))"
    )
    return f"({own} OR {of_steps})", [key, value, key, value]


def _with_owner(query: str) -> str:
    """(run_id, owner, value) rows of a (run_id, value) query; the owner of a step is its
    pipeline run, of any other run the run itself."""
    # A primary-key lookup per row, whatever the planner guesses of the row count (a join
    # planned for 2 rows that gets 100,000 runs costs seconds on PostgreSQL).
    return (
        "SELECT v.run_id, COALESCE((SELECT c.parent_id FROM runs c WHERE c.id = v.run_id), "
        f"v.run_id) AS owner, v.value FROM ({query}) v"
    )


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _matching_members(dialect: str, criterion: Criterion) -> tuple[str, list[Any]] | None:
    """A query of the runs (a run or a step) whose value of the field matches, or None for a
    plain attribute."""
    prefix = criterion.field.partition(".")[0]
    value = criterion.value
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    member = _member_values(dialect, criterion.field, text=not numeric)
    if member is None:
        return None
    query, params = member
    if prefix == "metrics" and not numeric:
        return f"SELECT run_id, value FROM ({query}) v WHERE 1 = 0", params  # numbers only
    if prefix == "metrics":  # the latest values are kept per run and key, indexed by value
        return (
            f"SELECT l.run_id, l.value FROM latest_metrics l WHERE l.key = ? AND l.value "
            f"{criterion.op} ?",
            [criterion.field.partition(".")[2], value],
        )
    if not numeric:
        value = json.dumps(value) if prefix == "params" else str(value)
    return (
        f"SELECT run_id, value FROM ({query}) v WHERE value {criterion.op} ?",
        [*params, value],
    )


def _member_values(dialect: str, field: str, *, text: bool = False) -> tuple[str, list[Any]] | None:
    """A query of (run_id, value) for every run or step that has ``field``; None for a plain
    attribute. A metric's value is the one at its highest step."""
    prefix, _, key = field.partition(".")
    if prefix == "metrics":
        return "SELECT l.run_id, l.value FROM latest_metrics l WHERE l.key = ?", [key]
    if prefix in ("params", "tags"):
        value = "p.value" if text else _number(dialect, "p.value", json_text=prefix == "params")
        return f"SELECT p.run_id, {value} AS value FROM {prefix} p WHERE p.key = ?", [key]
    return None


def _number(dialect: str, expression: str, *, json_text: bool) -> str:
    """``expression`` as a number where it spells one, else NULL (never an error)."""
    if dialect == "postgresql" and json_text:  # canonical JSON: a number starts so
        first = ", ".join(f"'{c}'" for c in "-0123456789")
        return (
            f"(CASE WHEN left({expression}, 1) IN ({first}) "
            f"THEN CAST({expression} AS double precision) END)"
        )
    if dialect == "postgresql":
        # No "?" in the pattern: the store turns every "?" into a placeholder.
        pattern = r"^\s*[-+]{0,1}([0-9]+\.{0,1}[0-9]*|\.[0-9]+)([eE][-+]{0,1}[0-9]+){0,1}\s*$"
        return (
            f"(CASE WHEN {expression} ~ '{pattern}' "
            f"THEN CAST({expression} AS double precision) END)"
        )
    if json_text:
        return (
            f"(CASE WHEN json_valid({expression}) AND json_type({expression}) IN "
            f"('integer', 'real') THEN CAST({expression} AS REAL) END)"
        )
    return (
        f"(CASE WHEN trim({expression}) <> '' AND trim({expression}) NOT GLOB "
        f"'*[^0-9.eE+-]*' THEN CAST({expression} AS REAL) END)"
    )
