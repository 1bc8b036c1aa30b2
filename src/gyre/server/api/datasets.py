"""Datasets: list, versions, one version with its profile, aliases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from gyre.data import versions
from gyre.server.access import Workspace, requires
from gyre.server.api.bodies import Body, Version
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(
    prefix="/datasets", tags=["datasets"], default_response_class=JSON, responses=ERRORS
)
reader = [Depends(requires("reader"))]
contributor = [Depends(requires("contributor"))]


Alias = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")]


class AliasMove(Body):
    version: Version


def _ref(ref: str) -> int | str:
    return int(ref) if ref.isascii() and ref.isdigit() else ref


@router.get("", dependencies=reader, summary="Every dataset with its newest version")
def list_datasets(store: Workspace) -> list[dict[str, Any]]:
    return versions.list_datasets(store)


@router.get("/{name}/versions", dependencies=reader, summary="A dataset's versions")
def dataset_versions(store: Workspace, name: str) -> dict[str, Any]:
    seen = versions.overview(store, name)
    return {
        "dataset": seen.dataset.__dict__,
        "versions": [v.__dict__ for v in seen.versions],
        "partitions": [p.__dict__ for p in seen.partitions],
    }


@router.get("/{name}/versions/{ref}", dependencies=reader, summary="One version and its profile")
def dataset_version(store: Workspace, name: str, ref: str) -> dict[str, Any]:
    version = versions.get(store, name, _ref(ref))
    return {**version.__dict__, "profile": versions.profile(store, version)}


@router.put("/{name}/aliases/{alias}", dependencies=contributor, summary="Point an alias")
def move_alias(store: Workspace, name: str, alias: Alias, body: AliasMove) -> dict[str, Any]:
    return versions.set_alias(store, name, body.version, alias).__dict__
