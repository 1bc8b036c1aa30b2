"""Reading the registry and the metadata that may change (tags): the capability behind
``gyre model list/show/compare/history/tag``."""

from __future__ import annotations

from typing import Any

from gyre.refs import parse_ref
from gyre.store import Store, audit
from gyre.store import models as rows
from gyre.store.models import ModelVersionRecord


def list_models(store: Store) -> list[dict[str, Any]]:
    """Every model with its newest version number and number of versions."""
    with store.read() as tx:
        return rows.list_models(tx)


def versions(store: Store, reference: str) -> list[ModelVersionRecord]:
    """``NAME``: every version of the model; ``NAME@N`` or ``NAME@ALIAS``: that one."""
    name, ref = parse_ref(reference)
    with store.read() as tx:
        return rows.versions(tx, name) if ref is None else [rows.get_version(tx, name, ref)]


def alias_history(store: Store, name: str) -> list[dict[str, Any]]:
    """Every alias change of a model: when, who, from which version to which."""
    with store.read() as tx:
        return rows.alias_history(tx, name)


def set_tags(store: Store, reference: str, tags: dict[str, str]) -> ModelVersionRecord:
    """Add or change tags of a version (tags are metadata; a version's content never changes)."""
    name, ref = parse_ref(reference)
    with store.write() as tx:
        version = rows.get_version(tx, name, ref)
        rows.set_tags(tx, version.name, version.version, tags)
        audit.append(tx, audit.default_actor(), "model.tags", f"model {version.ref}", tags)
        return rows.get_version(tx, name, version.version)
