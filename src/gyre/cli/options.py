"""Options shared by several commands, and opening the workspace for a command."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


def params_option(func: F) -> F:
    return click.option(
        "--param",
        "-p",
        "params",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a pipeline parameter (repeatable).",
    )(func)


def tags_option(func: F) -> F:
    return click.option(
        "--tag",
        "-t",
        "tags",
        multiple=True,
        metavar="KEY=VALUE",
        help="Tag the run, e.g. --tag build=1.42 (repeatable; never part of a cache key).",
    )(func)


def parse_tags(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE (e.g. --tag build=1.42)")
        out[key] = value
    return out


def open_workspace() -> Any:
    from gyre import config
    from gyre.store import open_store

    return open_store(config.resolve())


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))
