"""``gyre release ...``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gyre.cli.backends import backend
from gyre.cli.options import json_option, open_workspace, print_json
from gyre.cli.tables import add_column, new_table, print_table

if TYPE_CHECKING:
    from gyre.releases import ReleaseRow, ReleaseSpec

MARKS = {"passed": "ok", "failed": "FAILED"}


@click.group()
def release() -> None:
    """Releases: a new model version through test, checks, approval and a canary rollout to
    production, driven by 'gyre agent'."""


@release.command("apply")
@click.argument(
    "path", type=click.Path(path_type=Path, dir_okay=False), default="release.yaml", required=False
)
def apply(path: Path) -> None:
    """Check PATH (default ./release.yaml) and store it: versions registered from now on that
    match its trigger start a release."""
    from gyre import releases

    definition, new = releases.apply(open_workspace(), path)
    spec = releases.ReleaseSpec.from_json(definition.spec)
    stages = " -> ".join(s.name for s in spec.stages)
    state = f"version {definition.version}" if new else f"unchanged (version {definition.version})"
    click.echo(f"Release definition {definition.name} {state}: {spec.trigger.model}: {stages}")


@release.command("start")
@click.argument("definition")
@click.argument("model", metavar="MODEL@VERSION")
def start(definition: str, model: str) -> None:
    """Release a version that is already registered (new versions start by themselves)."""
    from gyre import releases

    found, new = releases.start(open_workspace(), definition, model)
    said = "Started" if new else "Already released:"
    click.echo(f"{said} release {found.id}: {found.ref} by {definition}")


@release.command("list")
@click.option("--definition", help="Only releases of this definition.")
@click.option("--limit", default=50, show_default=True)
@json_option
def list_releases(definition: str | None, limit: int, as_json: bool) -> None:
    """Releases, newest first."""

    where = backend()
    found = where.list_releases(definition, limit)
    if as_json:
        print_json([_as_dict(r) for r in found])
        return
    table = new_table()
    for column in ("id", "model", "definition", "status", "at", "started", "error"):
        add_column(table, column)
    for row in found:
        spec = where.release_spec(row)
        table.add_row(
            str(row.id),
            row.ref,
            row.definition,
            row.status,
            f"{spec.stages[row.stage].name}: {row.phase}",
            _when(row.created_at),
            (row.error or "")[:60],
        )
    print_table(table)


@release.command("show")
@click.argument("release_id", type=int)
@json_option
def show(release_id: int, as_json: bool) -> None:
    """A release's stage timeline: deploys, checks, approvals, canary steps, who and when."""
    where = backend()
    row = where.release(release_id)
    spec = where.release_spec(row)
    history = list(reversed(where.audit(subject=f"release {release_id}", limit=1000)))
    if as_json:
        print_json({**_as_dict(row), "timeline": [e.__dict__ for e in history]})
        return
    click.echo(
        f"release {row.id}: {row.ref} by {row.definition}@{row.definition_version} - {row.status}"
    )
    click.echo(f"  digest {row.digest}")
    if row.error:
        click.echo(f"  {row.error}")
    _timeline(row, spec)
    click.echo("  history:")
    for entry in history:
        detail = _detail_text(entry.detail)
        click.echo(f"    {_when(entry.at)}  {entry.action:<24} {entry.actor}  {detail}")


def _timeline(row: ReleaseRow, spec: ReleaseSpec) -> None:
    stages_state = row.state.get("stages", {})
    for index, stage in enumerate(spec.stages):
        mine = stages_state.get(stage.name, {})
        if index < row.stage or (index == row.stage and row.status == "succeeded"):
            mark = "done"
        elif index == row.stage:
            mark = f"{row.phase} ({row.status})"
        else:
            mark = "not reached"
        click.echo(f"  [{stage.name}] -> {stage.deploy.endpoint}: {mark}")
        for check in mine.get("checks", []):
            verdict = MARKS["passed" if check["passed"] else "failed"]
            first = check["detail"].splitlines()[0] if check["detail"] else ""
            click.echo(f"      check {check['label']}: {verdict} - {first} ({check['seconds']} s)")
        approval = mine.get("approval")
        if approval:
            word = "approved" if approval["approved"] else "rejected"
            note = f": {approval['comment']}" if approval.get("comment") else ""
            click.echo(f"      {word} by {approval['by']} at {_when(approval['at'])}{note}")
        elif stage.approval and index == row.stage and row.phase == "approval":
            click.echo(
                f"      waiting for: {', '.join(stage.approval.approvers)} "
                f"('gyre release approve {row.id}')"
            )
        for step in mine.get("rollout", []):
            p99 = f"{step['p99_ms']:g} ms" if step.get("p99_ms") is not None else "-"
            click.echo(
                f"      canary {step['percent']}%: {step['requests']} requests, error rate "
                f"{step['error_rate']:.2%}, p99 {p99}: {step['verdict']}"
            )


@release.command("approve")
@click.argument("release_id", type=int)
@click.option("--comment", "-m", default="", help="Why (kept in the audit log).")
def approve(release_id: int, comment: str) -> None:
    """Approve the stage a release waits at (you must be one of its approvers)."""
    where = backend()
    row = where.decide(release_id, "approve", comment)
    click.echo(
        f"Approved release {release_id} ({row.ref}, digest {row.digest[:12]}) as {where.who()}"
    )


@release.command("reject")
@click.argument("release_id", type=int)
@click.option("--comment", "-m", default="", help="Why (kept in the audit log).")
def reject(release_id: int, comment: str) -> None:
    """Reject the stage a release waits at: it ends, and production stays as it is."""
    where = backend()
    where.decide(release_id, "reject", comment)
    click.echo(f"Rejected release {release_id} as {where.who()}")


@release.command("cancel")
@click.argument("release_id", type=int)
def cancel(release_id: int) -> None:
    """Stop a release; a canary in progress goes back to the stable version."""
    backend().decide(release_id, "cancel")
    click.echo(f"Cancelled release {release_id}")


@release.command("rollback")
@click.argument("release_id", type=int)
def rollback(release_id: int) -> None:
    """Undo a succeeded release: production's endpoint back to the version it served before,
    and the alias back to where it pointed (both live and audited)."""
    row = backend().decide(release_id, "rollback")
    click.echo(f"Rolled back release {release_id}: {row.error}")


@release.command("retry")
@click.argument("release_id", type=int)
def retry(release_id: int) -> None:
    """Run the stage a release stopped at again, from its deploy."""
    row = backend().decide(release_id, "retry")
    click.echo(f"Retrying release {release_id} ({row.ref})")


def _when(at: float | None) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _detail_text(detail: dict[str, Any]) -> str:
    shown = {k: v for k, v in detail.items() if k not in ("stage", "steps", "judged")}
    return ", ".join(f"{k}={v}" for k, v in shown.items())[:150]


def _as_dict(row: ReleaseRow) -> dict[str, Any]:
    data = dict(row.__dict__)
    data["ref"] = row.ref
    return data
