"""What people do to a release: apply a definition, start, approve, reject, cancel, retry.

An approval names the release's model version by its digest: approving release 12 approves
exactly the files of ``seer@8`` that the checks ran against, whatever an alias says by then.
Who acts is the ``GYRE_USER`` environment variable, or the login name (the team server will
take it from the caller's token); only the stage's approvers may approve or reject.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gyre import actors, endpoints
from gyre.errors import Conflict, InvalidRelease, NotAnApprover
from gyre.registry import models as registry
from gyre.releases.engine import enqueue_step, phase_after_approval
from gyre.releases.spec import ReleaseSpec, parse
from gyre.store import audit
from gyre.store import releases as rows
from gyre.store.releases import DefinitionRow, ReleaseRow

if TYPE_CHECKING:
    from gyre.store import Store


def current_user() -> str:
    return actors.user_name()


def _is_approver(approvers: list[str], resource: str) -> bool:
    """Named in ``approvers``, or holding a role listed there (``role:approver``) everywhere
    or on ``resource``; with nobody authenticated, a role entry admits the workspace's user."""
    if actors.user_name() in approvers:
        return True
    actor = actors.current()
    roles = [a.removeprefix("role:") for a in approvers if a.startswith("role:")]
    return any(actor is None or actor.may(role, resource) for role in roles)


def apply(store: Store, path: Path) -> tuple[DefinitionRow, bool]:
    """Check ``path`` (a release.yaml) and store it as the definition's next version (none
    when the text and folder are unchanged); returns (definition, whether it is new)."""
    if not path.is_file():
        raise InvalidRelease(
            f"{path}: no such file. A release definition is a release.yaml beside the pipeline "
            "(docs/releases.md shows one)."
        )
    text = path.read_text()
    spec = parse(text, str(path))
    folder = str(path.resolve().parent)
    digest = hashlib.sha256(f"{folder}\0{text}".encode()).hexdigest()
    with store.write() as tx:
        definition, new = rows.add_definition(
            tx, spec.name, spec.to_json(), text, folder, digest, current_user()
        )
        if new:
            audit.append(
                tx,
                audit.default_actor(),
                "release.apply",
                f"release definition {spec.name}",
                {"version": definition.version, "trigger": spec.trigger.model},
            )
    return definition, new


def definitions(store: Store) -> list[DefinitionRow]:
    with store.read() as tx:
        return rows.latest_definitions(tx)


def get(store: Store, release_id: int) -> ReleaseRow:
    with store.read() as tx:
        return rows.get_release(tx, release_id)


def list_releases(
    store: Store, *, definition: str | None = None, limit: int = 50
) -> list[ReleaseRow]:
    with store.read() as tx:
        return rows.list_releases(tx, definition=definition, limit=limit)


def spec_of(store: Store, release: ReleaseRow) -> ReleaseSpec:
    with store.read() as tx:
        found = rows.get_definition(tx, release.definition, release.definition_version)
    return ReleaseSpec.from_json(found.spec)


def approve(store: Store, release_id: int, *, comment: str = "") -> ReleaseRow:
    """Approve the stage the release waits at; the next transition runs at once."""
    return _decide(store, release_id, approve=True, comment=comment)


def reject(store: Store, release_id: int, *, comment: str = "") -> ReleaseRow:
    """Reject the stage the release waits at: the release ends, production untouched."""
    return _decide(store, release_id, approve=False, comment=comment)


def _decide(store: Store, release_id: int, *, approve: bool, comment: str) -> ReleaseRow:
    user = current_user()
    release = get(store, release_id)
    spec = spec_of(store, release)
    stage = spec.stages[release.stage]
    verb = "approve" if approve else "reject"
    if release.status != "waiting" or release.phase != "approval" or stage.approval is None:
        raise Conflict(
            f"Release {release_id} is not waiting for an approval (it is {release.status}, "
            f"at {stage.name}: {release.phase}); there is nothing to {verb}."
        )
    if not _is_approver(stage.approval.approvers, f"release {spec.name}"):
        raise NotAnApprover(
            f"{user} may not {verb} release {release_id} at stage {stage.name}: its approvers "
            f"are {', '.join(stage.approval.approvers)} (release definition {spec.name})."
        )
    record = registry.get(store, release.ref)
    if record.digest != release.digest:
        raise Conflict(
            f"{release.ref} now has other files (digest {record.digest[:12]}) than the release "
            f"checked ({release.digest[:12]}); start a new release instead."
        )
    decision: dict[str, Any] = {
        "by": user,
        "at": time.time(),
        "approved": approve,
        "comment": comment,
        "digest": release.digest,
        "stage": stage.name,
    }
    state = dict(release.state)
    stages = state.setdefault("stages", {})
    stages.setdefault(stage.name, {})["approval"] = decision
    detail = {
        "stage": stage.name,
        "model": release.ref,
        "digest": release.digest,
        "comment": comment,
    }
    if not approve:
        reason = f"rejected by {user}" + (f": {comment}" if comment else "")
        moved = _end(store, release, status="rejected", error=reason, detail=detail, state=state)
        _restore_production(store, moved, spec)
        return moved
    with store.write() as tx:
        moved = rows.advance(
            tx,
            release_id,
            release.seq,
            status="running",
            stage=release.stage,
            phase=phase_after_approval(stage, stages[stage.name]),
            step=0,
            state=state,
        )
        enqueue_step(tx, release_id, moved.seq)
        audit.append(tx, audit.default_actor(), "release.approved", f"release {release_id}", detail)
    return moved


def cancel(store: Store, release_id: int) -> ReleaseRow:
    """Stop a running or waiting release; a canary in progress goes back to the stable
    version."""
    release = get(store, release_id)
    if release.status not in rows.ACTIVE:
        raise Conflict(f"Release {release_id} has ended ({release.status}); nothing to cancel.")
    spec = spec_of(store, release)
    moved = _end(
        store,
        release,
        status="cancelled",
        error=f"cancelled by {current_user()}",
        detail={"stage": spec.stages[release.stage].name, "phase": release.phase},
    )
    _restore_production(store, moved, spec)
    return moved


def retry(store: Store, release_id: int) -> ReleaseRow:
    """Start the stage a failed, rolled-back or cancelled release stopped at again, from its
    deploy."""
    release = get(store, release_id)
    if release.status in rows.ACTIVE or release.status == "succeeded":
        raise Conflict(
            f"Release {release_id} is {release.status}; only a failed, rolled back, rejected "
            "or cancelled release can be retried."
        )
    spec = spec_of(store, release)
    stage = spec.stages[release.stage].name
    state = dict(release.state)
    stages = state.setdefault("stages", {})
    previous = stages.get(stage, {})
    stages[stage] = {"stable": previous["stable"]} if "stable" in previous else {}
    with store.write() as tx:
        moved = rows.advance(
            tx,
            release_id,
            release.seq,
            status="running",
            stage=release.stage,
            phase="deploy",
            step=0,
            state=state,
        )
        enqueue_step(tx, release_id, moved.seq)
        audit.append(
            tx,
            audit.default_actor(),
            "release.retry",
            f"release {release_id}",
            {"stage": stage, "was": release.status},
        )
    return moved


def rollback(store: Store, release_id: int, *, wait_s: float = 60.0) -> ReleaseRow:
    """Undo a succeeded release: its production stage's endpoint goes back to the version it
    served before (live, no request dropped) and the stage's alias back to where it pointed;
    both moves are in the audit log and the alias history."""
    release = get(store, release_id)
    if release.status != "succeeded":
        raise Conflict(
            f"Release {release_id} is {release.status}; only a succeeded release can be rolled "
            "back (a canary that breached its thresholds rolled back by itself)."
        )
    spec = spec_of(store, release)
    stages = release.state.get("stages", {})
    stage = next((s for s in reversed(spec.stages) if s.rollout is not None), spec.stages[-1])
    mine = stages.get(stage.name, {})
    before = mine.get("stable") or mine.get("alias_before")
    if before is None:
        raise Conflict(
            f"Release {release_id} was {release.model}'s first at {stage.deploy.endpoint}: "
            "there is no earlier version to roll back to."
        )
    user = current_user()
    endpoint = endpoints.find(store, stage.deploy.endpoint)
    if endpoint is not None and (endpoint.traffic != {before: 100} or endpoint.shadow):
        changed = endpoints.set_traffic(
            store,
            stage.deploy.endpoint,
            {str(before): "100"},
            shadow="none",
            keep_shadow=False,
            actor=f"{user} (rollback of release {release_id})",
        )
        if endpoint.pid is not None and wait_s > 0:
            endpoints.wait_applied(store, stage.deploy.endpoint, changed.generation, wait_s)
    alias_before = mine.get("alias_before")
    still_ours = stage.alias is not None and (
        registry.alias_target(store, release.model, stage.alias) == release.version
    )
    if stage.alias and alias_before is not None and still_ours:
        registry.set_alias(
            store,
            release.model,
            stage.alias,
            int(alias_before),
            actor=f"{user} (rollback of release {release_id})",
        )
    moved = _end(
        store,
        release,
        status="rolled_back",
        error=f"rolled back by {user} to version {before}",
        detail={"stage": stage.name, "to": before, "from": release.version},
    )
    return moved


def _end(
    store: Store,
    release: ReleaseRow,
    *,
    status: str,
    error: str,
    detail: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> ReleaseRow:
    """End an active or succeeded release where it stands (with ``state``, when given), with
    the audit entry ``release.STATUS``, in one transaction."""
    with store.write() as tx:
        moved = rows.advance(
            tx,
            release.id,
            release.seq,
            status=status,
            stage=release.stage,
            phase=release.phase,
            step=release.step,
            state=release.state if state is None else state,
            error=error,
        )
        audit.append(
            tx, audit.default_actor(), f"release.{status}", f"release {release.id}", detail
        )
    return moved


def _restore_production(store: Store, release: ReleaseRow, spec: ReleaseSpec) -> None:
    stage = spec.stages[release.stage]
    stable = release.state.get("stages", {}).get(stage.name, {}).get("stable")
    if stage.rollout is None or stable is None:
        return
    row = endpoints.find(store, stage.deploy.endpoint)
    if row is None or (row.traffic == {stable: 100} and row.shadow is None):
        return
    endpoints.set_traffic(
        store,
        stage.deploy.endpoint,
        {str(stable): "100"},
        shadow="none",
        keep_shadow=False,
        actor=f"release {release.id}",
    )
