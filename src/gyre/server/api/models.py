"""The model registry: models, versions, tags, aliases and their history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import Field

from gyre.registry import catalog
from gyre.registry import models as registry
from gyre.server.access import Workspace, requires
from gyre.server.api.bodies import NO_NUL, Body, Bool, Key, Labels, Metric, Size, Text, Version
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(prefix="/models", tags=["models"], default_response_class=JSON, responses=ERRORS)
reader = [Depends(requires("reader"))]
contributor = [Depends(requires("contributor"))]


Alias = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")]


class AliasMove(Body):
    version: Version


class VersionTags(Body):
    tags: Labels


class Registration(Body):
    files: Annotated[
        dict[str, tuple[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")], Size]],
        Field(description="relative path -> [sha256, size] of files sent to /blobs"),
    ]
    run_id: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)] | None = None
    metrics: dict[Key, Metric] = {}
    tags: Labels = {}
    description: Text | None = None
    trusted: Bool = False


@router.get("", dependencies=reader, summary="Every model with its newest version")
def list_models(store: Workspace) -> list[dict[str, Any]]:
    return catalog.list_models(store)


@router.post(
    "/{name}/versions",
    dependencies=contributor,
    status_code=201,
    summary="Register a version from files sent to /blobs (what gyre.register_model sends)",
)
def register(store: Workspace, name: str, body: Registration) -> dict[str, Any]:
    record = registry.register_files(
        store,
        name,
        {rel: [digest, size] for rel, (digest, size) in body.files.items()},
        run_id=body.run_id,
        metrics={k: float(v) for k, v in body.metrics.items()},
        tags=body.tags,
        description=body.description,
        trusted=body.trusted,
    )
    return record.__dict__


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
