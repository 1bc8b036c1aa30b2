"""MLflow's runs/search: its filter and order_by translated into gyre's run query.

Covered: conditions joined by AND on ``metrics.K`` (= != < <= > >= a number), ``params.K``
and ``tags.K`` (= or != a quoted string), ``attributes.status``, ``attributes.run_name``
(= or !=) and ``attributes.start_time`` (a comparison with milliseconds); one order_by
clause on the same fields. LIKE, ILIKE, IN, IS NULL, datasets and other attributes are
refused by name. Pages are offsets.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, StringConstraints

from gyre.errors import InvalidParameter
from gyre.server.access import Workspace, requires
from gyre.server.mlflow.entities import (
    FROM_MLFLOW_STATUS,
    Message,
    MLflowJSON,
    PageToken,
    experiment_name,
    offset_of,
    run_message,
)
from gyre.server.mlflow.refusals import refuse
from gyre.tracking import run_query
from gyre.tracking.liveness import effective_status

router = APIRouter(
    prefix="/api/2.0/mlflow/runs", default_response_class=MLflowJSON, include_in_schema=False
)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>[A-Za-z_]\w*\.(?:`[^`]*`|"[^"]*"|[\w.\-/:]+))
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<word>[A-Za-z_]\w*)
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_PREFIXES = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attribute": "attributes",
    "attributes": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
_GYRE_KEY = re.compile(r"^[A-Za-z_][\w.\-/]*$")
_COVERED = (
    "metrics.K, params.K, tags.K, attributes.status, attributes.run_name and attributes.start_time"
)


class SearchRuns(Message):
    experiment_ids: Annotated[
        list[Annotated[str, StringConstraints(max_length=1000)]], Field(max_length=100)
    ] = []
    filter: Annotated[str, StringConstraints(max_length=4000)] | None = None
    run_view_type: str | int | None = None
    max_results: Annotated[int, Field(ge=1, le=50_000)] = 1000
    order_by: Annotated[
        list[Annotated[str, StringConstraints(max_length=500)]], Field(max_length=10)
    ] = []
    page_token: PageToken = None


def _tokens(text: str) -> list[tuple[str, str]]:
    found = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        kind = match.lastgroup or "other"
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _field(ident: str) -> tuple[str, str]:
    """(gyre's prefix or "attributes", key) of an MLflow identifier."""
    prefix, _, key = ident.partition(".")
    if key[:1] in ("`", '"') and key[-1:] == key[:1] and len(key) >= 2:
        key = key[1:-1]
    kind = _PREFIXES.get(prefix.lower())
    if kind is None:
        refuse(f"searching runs on {ident!r} (use {_COVERED})")
    if not key:
        raise InvalidParameter(f"{ident!r} names no key.", field="filter")
    return kind, key


def _quote(text: str) -> str:
    """A string as a quoted value of gyre's filter (single quotes keep backslashes)."""
    if re.search(r"\s(?i:and)\s", f" {text} "):
        refuse(f"a filter value containing 'and' ({text[:100]!r})")
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text and "\\" not in text:
        return f'"{text}"'
    refuse(f"a filter value with both quote marks ({text[:100]!r})")


def _condition(kind: str, key: str, op: str, value: tuple[str, str]) -> str:
    vkind, raw = value
    if op == "<>":
        op = "!="
    if kind == "metrics":
        if vkind != "number":
            raise InvalidParameter(
                f"metrics.{key} is compared with {raw!r}; compare a metric with a number.",
                field="filter",
            )
        return f"metrics.{key} {op} {raw}"
    if vkind not in ("string", "number"):
        raise InvalidParameter(f"Cannot compare with {raw!r}; quote the value.", field="filter")
    text = raw[1:-1] if vkind == "string" else raw
    if kind in ("params", "tags"):
        if op not in ("=", "!="):
            refuse(f"{op} on {kind}.{key} (params and tags compare with = or !=)")
        return f"{kind}.{key} {op} {_quote(text)}"
    attribute = key.lower()
    if attribute == "status":
        status = FROM_MLFLOW_STATUS.get(text.upper())
        if status is None or op not in ("=", "!="):
            raise InvalidParameter(
                f"attributes.status {op} {raw}: compare with = or != and one of "
                f"{', '.join(FROM_MLFLOW_STATUS)}.",
                field="filter",
            )
        return f"status {op} '{status}'"
    if attribute in ("run_name", "name"):
        if op not in ("=", "!="):
            refuse(f"{op} on attributes.run_name (compare with = or !=)")
        return f"name {op} {_quote(text)}"
    if attribute in ("start_time", "created"):
        if vkind != "number":
            raise InvalidParameter(
                f"attributes.start_time is compared with {raw!r}; give milliseconds.",
                field="filter",
            )
        return f"created {op} {float(raw) / 1000!r}"
    refuse(f"searching runs on attributes.{key} (use {_COVERED})")


def gyre_filter(text: str | None) -> str:
    """MLflow's filter as gyre's (``run_query.parse_filter``), or a clear refusal."""
    if not text or not text.strip():
        return ""
    tokens = _tokens(text)
    conditions = []
    index = 0
    while index < len(tokens):
        part = tokens[index : index + 3]
        if len(part) < 3 or part[0][0] != "ident" or part[1][0] not in ("op", "word"):
            shown = " ".join(t for _, t in part) or text
            raise InvalidParameter(
                f"Cannot read the filter near {shown[:100]!r}: write conditions like "
                "\"metrics.acc > 0.9 and params.lr = '0.01'\".",
                field="filter",
            )
        kind, key = _field(part[0][1])
        if part[1][0] == "word":
            refuse(f"{part[1][1].upper()} in run filters (use = != < <= > >=)")
        if not _GYRE_KEY.match(key) and kind != "attributes":
            refuse(f"the key {key!r} in a filter (keys of letters, digits, _ . - / only)")
        conditions.append(_condition(kind, key, part[1][1], part[2]))
        index += 3
        if index < len(tokens):
            if tokens[index][0] == "word" and tokens[index][1].lower() == "and":
                index += 1
                if index == len(tokens):
                    raise InvalidParameter("The filter ends with AND.", field="filter")
            else:
                refuse(f"{tokens[index][1]!r} in run filters (join conditions with AND)")
    return " and ".join(conditions)


def gyre_order(clauses: list[str]) -> tuple[str | None, str | None]:
    """(gyre's order_by, the RunRow field to sort merged pages by) of MLflow's order_by."""
    if not clauses:
        return None, None
    if len(clauses) > 1:
        refuse(f"ordering runs by {len(clauses)} clauses (order by one)")
    tokens = _tokens(clauses[0])
    direction = "ASC"
    if tokens and tokens[-1][0] == "word" and tokens[-1][1].upper() in ("ASC", "DESC"):
        direction = tokens.pop()[1].upper()
    if len(tokens) != 1 or tokens[0][0] not in ("ident", "word"):
        raise InvalidParameter(
            f"Cannot read order_by {clauses[0][:100]!r}: write e.g. 'metrics.acc DESC'.",
            field="order_by",
        )
    ident = tokens[0][1] if tokens[0][0] == "ident" else f"attributes.{tokens[0][1]}"
    kind, key = _field(ident)
    if kind == "attributes":
        field = {
            "start_time": "created",
            "created": "created",
            "run_name": "name",
            "status": "status",
        }.get(key.lower())
        if field is None:
            refuse(
                f"ordering runs by attributes.{key} (use start_time, run_name, status, "
                "metrics.K, params.K or tags.K)"
            )
    else:
        if not _GYRE_KEY.match(key):
            refuse(f"the key {key!r} in order_by (keys of letters, digits, _ . - / only)")
        field = f"{kind}.{key}"
    return f"{field} {direction.lower()}", field


def _sort_merged(rows: list[run_query.RunRow], order: str | None, field: str | None) -> None:
    rows.sort(key=lambda r: r.record.created_at, reverse=True)
    if field is None or order is None:
        return
    present = [r for r in rows if r.value(field) is not None]
    absent = [r for r in rows if r.value(field) is None]

    def key(row: run_query.RunRow) -> tuple[int, Any]:
        value = row.value(field)
        return (0, value) if isinstance(value, int | float) else (1, str(value))

    present.sort(key=key, reverse=order.endswith("desc"))
    rows[:] = present + absent


@router.post("/search", dependencies=[Depends(requires("reader"))])
def search_runs(store: Workspace, body: SearchRuns) -> dict[str, Any]:
    if str(body.run_view_type).upper() in ("DELETED_ONLY", "2"):
        return {"runs": []}  # gyre deletes runs for good
    filter_text = gyre_filter(body.filter)
    order, field = gyre_order(body.order_by)
    offset = offset_of(body.page_token)
    wanted = offset + body.max_results + 1
    names: list[str | None] = [experiment_name(e) for e in body.experiment_ids] or [None]
    rows: list[run_query.RunRow] = []
    for name in dict.fromkeys(names):
        rows.extend(
            run_query.find_runs(
                store,
                filter_text=filter_text or None,
                order_by=order,
                experiment=name,
                limit=wanted,
            )
        )
    if len(names) > 1:
        _sort_merged(rows, order, field)
    page = rows[offset : offset + body.max_results]
    answer: dict[str, Any] = {
        "runs": [
            run_message(r.record, r.params, r.tags, r.metrics, effective_status(r.record))
            for r in page
        ]
    }
    if len(rows) > offset + body.max_results:
        answer["next_page_token"] = str(offset + body.max_results)
    return answer
