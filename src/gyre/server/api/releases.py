"""Releases: list, show, approve, reject, cancel, retry (approvals: the stage's approvers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from gyre import releases
from gyre.server.access import Workspace, requires
from gyre.server.api.bodies import Body, Text
from gyre.server.api.responses import ERRORS, JSON

router = APIRouter(
    prefix="/releases", tags=["releases"], default_response_class=JSON, responses=ERRORS
)
reader = [Depends(requires("reader"))]
contributor = [Depends(requires("contributor"))]


class Decision(Body):
    comment: Text = ""


ReleaseId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("", dependencies=reader, summary="Releases, newest first")
def list_releases(
    store: Workspace,
    definition: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
) -> list[dict[str, Any]]:
    found = releases.list_releases(store, definition=definition, limit=limit)
    return [_shown(store, r) for r in found]


@router.get("/definitions", dependencies=reader, summary="Release definitions (release.yaml)")
def definitions(store: Workspace) -> list[dict[str, Any]]:
    return [d.__dict__ for d in releases.definitions(store)]


@router.get("/{release_id}", dependencies=reader, summary="One release and its stages")
def show(store: Workspace, release_id: ReleaseId) -> dict[str, Any]:
    return _shown(store, releases.get(store, release_id))


def _shown(store: Any, row: releases.ReleaseRow) -> dict[str, Any]:
    """The row with the definition it follows (the stages' names, approvers, steps)."""
    return {**row.__dict__, "spec": releases.spec_of(store, row).to_json()}


@router.post(
    "/{release_id}/approve",
    dependencies=reader,
    summary="Approve the stage the release waits at (the stage's approvers only)",
)
def approve(store: Workspace, release_id: ReleaseId, body: Decision) -> dict[str, Any]:
    return releases.approve(store, release_id, comment=body.comment).__dict__


@router.post(
    "/{release_id}/reject",
    dependencies=reader,
    summary="Reject the stage the release waits at (the stage's approvers only)",
)
def reject(store: Workspace, release_id: ReleaseId, body: Decision) -> dict[str, Any]:
    return releases.reject(store, release_id, comment=body.comment).__dict__


@router.post("/{release_id}/cancel", dependencies=contributor, summary="Cancel a release")
def cancel(store: Workspace, release_id: ReleaseId) -> dict[str, Any]:
    return releases.cancel(store, release_id).__dict__


@router.post(
    "/{release_id}/rollback",
    dependencies=contributor,
    summary="Roll a release back (production: approvers of the model only)",
)
def rollback(store: Workspace, release_id: ReleaseId) -> dict[str, Any]:
    return releases.rollback(store, release_id).__dict__


@router.post("/{release_id}/retry", dependencies=contributor, summary="Retry a failed release")
def retry(store: Workspace, release_id: ReleaseId) -> dict[str, Any]:
    return releases.retry(store, release_id).__dict__
