"""``gyre audit`` and ``gyre audit list``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import click

from gyre.cli.options import json_option, print_json


def _filters(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--subject", help="Only entries about this, e.g. 'model seer'."),
            click.option("--action", help="Only this action, e.g. model.alias or run.delete."),
            click.option("--actor", help="Only what this user (or service) did."),
            click.option("--since", metavar="DURATION", help="Only the last DURATION: 1h, 7d."),
            click.option("--limit", default=100, show_default=True),
            json_option,
        ]
    ):
        command = option(command)
    return command


@click.group(invoke_without_command=True)
@_filters
@click.pass_context
def audit(ctx: click.Context, /, **filters: Any) -> None:
    """The append-only audit log: who did what to which object, from where, newest first."""
    if ctx.invoked_subcommand is None:
        _show(**filters)


@audit.command("list")
@_filters
def list_entries(**filters: Any) -> None:
    """List entries, newest first (the same as 'gyre audit')."""
    _show(**filters)


def _show(
    subject: str | None,
    action: str | None,
    actor: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    from gyre.cli.backends import backend
    from gyre.cli.tables import add_column, new_table, print_table
    from gyre.durations import parse_duration

    after = None
    if since is not None:
        seconds = parse_duration(since)
        if seconds is None:
            raise click.BadParameter(
                f"{since!r} is not a duration (e.g. 1h, 7d).", param_hint="--since"
            )
        after = time.time() - seconds
    found = backend().audit(subject=subject, action=action, actor=actor, since=after, limit=limit)
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
