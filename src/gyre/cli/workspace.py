"""``gyre init``, ``gyre migrate``, ``gyre gc`` and ``gyre fsck``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from gyre.cli.options import json_option, open_workspace, print_json


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def init(path: Path | None) -> None:
    """Create a workspace: PATH/.gyre (default: the current folder, or the workspace GYRE_URI
    names when it is set: a folder, or a PostgreSQL database whose schema is then created)."""
    from gyre.workspace.lifecycle import init as init_workspace

    done = init_workspace(path)
    if done.note:
        click.echo(f"Note: {done.note}", err=True)
    if done.shared:
        click.echo(
            f"Initialized the shared workspace GYRE_URI names (schema at revision "
            f"{done.revision}); no .gyre folder was made here."
        )
    elif path is None and os.environ.get("GYRE_URI"):
        click.echo(f"Created or opened workspace {done.location} (from GYRE_URI)")
    else:
        click.echo(f"{'Created' if done.created else 'Opened existing'} workspace {done.location}")


@click.command()
def migrate() -> None:
    """Upgrade the workspace's schema (needed once for a shared PostgreSQL workspace)."""
    from gyre.workspace.lifecycle import migrate as upgrade

    click.echo(f"Workspace schema is at revision {upgrade()}.")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@json_option
def gc(dry_run: bool, as_json: bool) -> None:
    """Remove blobs that no run, dataset or model version references."""
    from gyre.workspace.lifecycle import collect_garbage

    report = collect_garbage(open_workspace(), dry_run=dry_run)
    if as_json:
        print_json(report.__dict__)
        return
    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {report.removed} blob(s), {report.bytes_freed / 1e6:.1f} MB; "
        f"kept {report.kept} referenced blob(s)."
    )


@click.command()
@click.option(
    "--repair",
    is_flag=True,
    help="Put back damaged blobs from intact local copies, make damaged copies again, remove "
    "leftovers, and mark what cannot be repaired. Never deletes a referenced blob.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Trust large local blobs whose size, mtime and inode are unchanged since they were "
    "last hashed, and object-store blobs that exist (instead of reading every byte).",
)
@json_option
def fsck(repair: bool, quick: bool, as_json: bool) -> None:
    """Check that every blob and local copy the workspace recorded is there, byte for byte.

    Exits 1 when something recorded is missing or corrupt (and was not repaired).
    """
    from gyre.workspace.fsck import affected_subjects, check

    report = check(open_workspace(), repair=repair, quick=quick)
    if as_json:
        print_json(report.as_dict())
    else:
        for finding in report.findings:
            state = f" -> {finding.repaired}" if finding.repaired else ""
            click.echo(f"{finding.problem}: {finding.object}{state}")
            for item in finding.affects[:10]:
                click.echo(f"    affects {item}")
            if len(finding.affects) > 10:
                click.echo(f"    ... and {len(finding.affects) - 10} more")
            if not finding.repaired:
                click.echo(f"    fix: {finding.fix}")
        mb = report.bytes_checked / 1e6
        click.echo(
            f"Checked {report.blobs_checked} blob(s) ({mb:.1f} MB read), "
            f"{report.copies_checked} local cop(ies), {report.rows_checked} reference(s) "
            f"in {report.seconds:.1f} s."
        )
        damaged = report.damaged
        if damaged:
            subjects = affected_subjects(report)
            click.echo(
                f"{len(damaged)} problem(s) lose or change recorded data; affected: "
                + ", ".join(subjects[:20])
                + (f" and {len(subjects) - 20} more" if len(subjects) > 20 else "")
            )
            if repair:
                click.echo(
                    f"Marked {report.marked} damaged object(s); 'gyre runs show', 'gyre model "
                    "show' and 'gyre data show' name them."
                )
            else:
                click.echo("Run 'gyre fsck --repair' to repair what intact copies allow.")
        else:
            click.echo("No damage found.")
    if report.damaged:
        raise SystemExit(1)
