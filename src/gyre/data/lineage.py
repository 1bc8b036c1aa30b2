"""Lineage both ways: what a run read and wrote, and which runs produced or used a version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gyre.refs import parse_ref
from gyre.store import Store, dataset_uses
from gyre.store import datasets as rows
from gyre.store import models as model_rows
from gyre.store import runs as run_rows


@dataclass
class LineageGraph:
    subject: str
    produced_by: list[dict[str, Any]] = field(default_factory=list)
    used_by: list[dict[str, Any]] = field(default_factory=list)
    read: list[dict[str, Any]] = field(default_factory=list)
    wrote: list[dict[str, Any]] = field(default_factory=list)
    commit: str | None = None


def _run_summary(record: run_rows.RunRecord) -> dict[str, Any]:
    return {
        "run": record.id,
        "kind": record.kind,
        "name": record.name,
        "parent": record.parent_id,
        "status": record.status,
    }


def of_version(store: Store, reference: str) -> LineageGraph:
    name, ref = parse_ref(reference)
    with store.read() as tx:
        version = rows.get_version(tx, name, ref)
        graph = LineageGraph(version.ref)
        for use in dataset_uses.uses_of_version(tx, name, version.version):
            record = run_rows.get(tx, use["run_id"])
            target = graph.produced_by if use["direction"] == "write" else graph.used_by
            target.append(_run_summary(record))
    return graph


def of_model_version(store: Store, reference: str) -> LineageGraph:
    """What produced a model version: the run that registered it (and its pipeline run), the
    dataset versions that run read, and the commit it was built from."""
    name, ref = parse_ref(reference)
    with store.read() as tx:
        version = model_rows.get_version(tx, name, ref)
        graph = LineageGraph(f"model {version.ref}")
        if version.run_id:
            graph.produced_by.append(_run_summary(run_rows.get(tx, version.run_id)))
        if version.pipeline_run_id and version.pipeline_run_id != version.run_id:
            graph.produced_by.append(_run_summary(run_rows.get(tx, version.pipeline_run_id)))
    graph.read = [{"dataset": d, "step_run": version.run_id} for d in version.datasets or []]
    graph.commit = version.git_commit
    return graph


def of_subject(store: Store, subject: str, *, model: bool = False) -> LineageGraph:
    """``NAME@N`` of a dataset (or, with ``model`` or when no dataset has the name, of a model
    version), or a run id."""
    if "@" not in subject:
        return of_run(store, subject)
    name, _ = parse_ref(subject)
    with store.read() as tx:
        is_model = model or (not rows.dataset_exists(tx, name) and model_rows.exists(tx, name))
    return of_model_version(store, subject) if is_model else of_version(store, subject)


def of_run(store: Store, run_id: str) -> LineageGraph:
    with store.read() as tx:
        record = run_rows.get(tx, run_id)
        ids = [record.id, *(c.id for c in run_rows.children(tx, record.id))]
        graph = LineageGraph(f"run {record.id}")
        seen: set[tuple[str, int, str]] = set()
        for use in dataset_uses.uses_of_run(tx, ids):
            key = (use["dataset"], use["version"], use["direction"])
            if key in seen:
                continue
            seen.add(key)
            entry = {"dataset": f"{use['dataset']}@{use['version']}", "step_run": use["run_id"]}
            (graph.wrote if use["direction"] == "write" else graph.read).append(entry)
    return graph
