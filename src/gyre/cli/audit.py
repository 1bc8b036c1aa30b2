"""``gyre audit``."""

from __future__ import annotations

import datetime as dt

import click

from gyre.cli.options import json_option, open_workspace, print_json


@click.command()
@click.option("--subject", help="Only entries about this, e.g. 'model seer' or 'run 3f2a'.")
@click.option("--action", help="Only this action, e.g. model.alias or run.delete.")
@click.option("--limit", default=100, show_default=True)
@json_option
def audit(subject: str | None, action: str | None, limit: int, as_json: bool) -> None:
    """The append-only audit log: who did what to which object, newest first."""
    from gyre.cli.tables import add_column, new_table, print_table
    from gyre.workspace.audit_log import entries

    found = entries(open_workspace(), subject=subject, action=action, limit=limit)
    if as_json:
        print_json([e.__dict__ for e in found])
        return
    table = new_table()
    for column in ("when", "actor", "action", "subject", "detail"):
        add_column(table, column)
    for e in found:
        when = dt.datetime.fromtimestamp(e.at).strftime("%Y-%m-%d %H:%M:%S")
        detail = " ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
        table.add_row(when, e.actor, e.action, e.subject, detail)
    print_table(table)
