"""Options shared by several commands, and opening the workspace for a command."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from gyre.store import Store

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


def parse_pairs(pairs: Iterable[str], option: str, example: str) -> dict[str, str]:
    """``["build=1.42", ...]`` -> ``{"build": "1.42"}``: the one KEY=VALUE parser of the CLI
    (--param, --tag, --metric, --option, gyre model tag)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(
                f"{pair!r} is not KEY=VALUE; write it like {option} {example}", param_hint=option
            )
        out[key.strip()] = value
    return out


def parse_tags(pairs: Iterable[str]) -> dict[str, str]:
    return parse_pairs(pairs, "--tag", "build=1.42")


def parse_params(pairs: Iterable[str]) -> dict[str, str]:
    return parse_pairs(pairs, "--param", "epochs=20")


def open_workspace() -> Store:
    """The configured workspace (``GYRE_URI``, ``gyre.yaml`` or ``./.gyre``)."""
    from gyre.tracking.current_store import current_store

    return current_store()


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))
