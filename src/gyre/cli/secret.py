"""``gyre secret ...``."""

from __future__ import annotations

import sys

import click

from gyre.cli.options import json_option, print_json


@click.group()
def secret() -> None:
    """Credentials, kept in a file only you can read, never in the metadata database."""


@secret.command("set")
@click.argument("name")
def set_secret(name: str) -> None:
    """Read the value from standard input (a JSON object of storage options, or a string)."""
    from gyre.data.secrets import secrets_file
    from gyre.data.secrets import set_secret as store_secret

    if sys.stdin.isatty():
        value = click.prompt(f"Value of secret {name}", hide_input=True)
    else:
        value = sys.stdin.read().strip()
    if not value:
        raise click.BadParameter("the secret's value is empty", param_hint="stdin")
    store_secret(name, value)
    click.echo(f"Stored secret {name} in {secrets_file()} (mode 600)")


@secret.command("list")
@json_option
def list_secrets(as_json: bool) -> None:
    """List secret names (never values)."""
    from gyre.data.secrets import list_secrets as names

    found = names()
    if as_json:
        print_json(found)
        return
    for name in found:
        click.echo(name)


@secret.command("remove")
@click.argument("name")
def remove_secret(name: str) -> None:
    from gyre.data.secrets import remove_secret as drop

    drop(name)
    click.echo(f"Removed secret {name}")
