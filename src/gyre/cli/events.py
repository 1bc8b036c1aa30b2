"""``gyre events ...``."""

from __future__ import annotations

import datetime as dt

import click

from gyre.cli.options import json_option, print_json
from gyre.cli.tables import add_column, new_table, print_table


@click.group()
def events() -> None:
    """The workspace's durable jobs and events."""


@events.command("list")
@click.option("--kind", help="Only this kind, e.g. pipeline.run.")
@click.option("--limit", default=50, show_default=True)
@json_option
def list_events(kind: str | None, limit: int, as_json: bool) -> None:
    """List jobs and events, newest first."""
    from gyre.cli.backends import backend
    from gyre.jobs import payload_summary

    rows = backend().list_jobs(kind, limit)
    if as_json:
        print_json([r.__dict__ for r in rows])
        return
    table = new_table()
    for column in ("id", "kind", "status", "attempts", "created", "payload"):
        add_column(table, column)
    for r in rows:
        when = dt.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M:%S")
        summary = ", ".join(f"{k}={v}" for k, v in payload_summary(r).items())
        table.add_row(str(r.id), r.kind, r.status, str(r.attempts), when, summary[:80])
    print_table(table)
