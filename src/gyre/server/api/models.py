"""The model registry: models, versions, tags, aliases and their history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from gyre.registry import catalog
from gyre.registry import models as registry
from gyre.server.access import Workspace, requires
from gyre.server.api.bodies import Body, Labels, Version
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(prefix="/models", tags=["models"], default_response_class=JSON, responses=ERRORS)
reader = [Depends(requires("reader"))]
contributor = [Depends(requires("contributor"))]


Alias = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")]


class AliasMove(Body):
    version: Version


class VersionTags(Body):
    tags: Labels


@router.get("", dependencies=reader, summary="Every model with its newest version")
def list_models(store: Workspace) -> list[dict[str, Any]]:
    return catalog.list_models(store)


@router.get("/{name}/versions", dependencies=reader, summary="Every version of a model")
def versions(store: Workspace, name: str) -> list[dict[str, Any]]:
    return [v.__dict__ for v in catalog.versions(store, name.partition("@")[0])]


@router.get(
    "/{name}/versions/{ref}", dependencies=reader, summary="One version (a number or an alias)"
)
def version(store: Workspace, name: str, ref: str) -> dict[str, Any]:
    return catalog.versions(store, f"{name.partition('@')[0]}@{ref}")[0].__dict__


@router.patch("/{name}/versions/{ref}/tags", dependencies=contributor, summary="Set tags")
def set_tags(store: Workspace, name: str, ref: str, body: VersionTags) -> dict[str, Any]:
    return catalog.set_tags(store, f"{name.partition('@')[0]}@{ref}", body.tags).__dict__


@router.get("/{name}/aliases", dependencies=reader, summary="Every alias change of a model")
def alias_history(store: Workspace, name: str) -> list[dict[str, Any]]:
    return catalog.alias_history(store, name)


@router.put(
    "/{name}/aliases/{alias}",
    dependencies=contributor,
    summary="Point an alias at a version (production: approvers of the model only)",
)
def move_alias(store: Workspace, name: str, alias: Alias, body: AliasMove) -> dict[str, Any]:
    record = catalog.versions(store, f"{name}@{body.version}")[0]
    previous = registry.set_alias(store, record.name, alias, record.version)
    return {"model": record.name, "alias": alias, "version": record.version, "previous": previous}
