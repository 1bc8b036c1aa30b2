"""Options shared by several commands, and opening the workspace for a command."""

from __future__ import annotations

import functools
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


def by_reference_option(help_text: str) -> Callable[[F], F]:
    """``--by-reference``: record without copying. The old spelling ``--reference`` still
    works for one release and says so."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def merged(*args: Any, deprecated_reference: bool, **kwargs: Any) -> Any:
            if deprecated_reference:
                click.echo(
                    "Note: --reference is now --by-reference; the old spelling goes away in "
                    "the next release.",
                    err=True,
                )
                kwargs["by_reference"] = True
            return func(*args, **kwargs)

        option = click.option("--reference", "deprecated_reference", is_flag=True, hidden=True)
        wrapped = option(merged)
        return click.option("--by-reference", "by_reference", is_flag=True, help=help_text)(wrapped)  # type: ignore[return-value]

    return decorate


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
