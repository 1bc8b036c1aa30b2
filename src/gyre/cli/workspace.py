"""``gyre init``, ``gyre migrate``, ``gyre gc`` and ``gyre fsck``."""

from __future__ import annotations

from pathlib import Path

import click

from gyre.cli.options import json_option, open_workspace, print_json


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def init(path: Path | None) -> None:
    """Create a workspace: PATH/.gyre (default: the current folder, or the workspace GYRE_URI
    names when it is set: a folder, or a PostgreSQL database whose schema is then created)."""
    import os

    from gyre.config import WORKSPACE_DIR, resolve
    from gyre.store import init_workspace

    configured = os.environ.get("GYRE_URI")
    if configured and path is None:
        settings = resolve()
        if not settings.embedded:
            from gyre.store.migrate import HEAD_REVISION, upgrade

            upgrade(settings.db_url)
            click.echo(
                f"Initialized the shared workspace GYRE_URI names (schema at revision "
                f"{HEAD_REVISION}); no .gyre folder was made here."
            )
            return
        store = init_workspace(settings.local_dir)
        store.close()
        click.echo(f"Created or opened workspace {settings.local_dir} (from GYRE_URI)")
        return
    if configured:
        click.echo(
            f"Note: GYRE_URI is set; commands use that workspace, not {path}, while it is.",
            err=True,
        )
    target = (path or Path.cwd()) / WORKSPACE_DIR
    existed = (target / "gyre.db").exists()
    store = init_workspace(target)
    store.close()
    verb = "Opened existing" if existed else "Created"
    click.echo(f"{verb} workspace {target}")


@click.command()
def migrate() -> None:
    """Upgrade the workspace's schema (needed once for a shared PostgreSQL workspace)."""
    from gyre import config
    from gyre.store.migrate import HEAD_REVISION, upgrade

    upgrade(config.resolve().db_url)
    click.echo(f"Workspace schema is at revision {HEAD_REVISION}.")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@json_option
def gc(dry_run: bool, as_json: bool) -> None:
    """Remove blobs that no run, dataset or model version references."""
    from gyre.store.garbage import collect

    store = open_workspace()
    report = collect(store, dry_run=dry_run)
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
    from gyre.integrity.fsck import affected_subjects, check

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
