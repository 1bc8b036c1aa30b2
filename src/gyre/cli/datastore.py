"""``gyre datastore ...``."""

from __future__ import annotations

import json

import click

from gyre.cli.options import (
    by_reference_option,
    json_option,
    open_workspace,
    parse_pairs,
    print_json,
)
from gyre.cli.tables import add_column, new_table, print_table


@click.group()
def datastore() -> None:
    """Named storage locations (any fsspec URL) that datasets are read from."""


@datastore.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--secret", help="Name of a secret holding credentials (gyre secret set NAME).")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A non-secret fsspec option, e.g. endpoint_url=http://... (repeatable).",
)
@by_reference_option("Datasets from here are recorded, not copied.")
@click.option("--no-check", is_flag=True, help="Do not check that the location answers now.")
def add(
    name: str,
    url: str,
    secret: str | None,
    options: tuple[str, ...],
    by_reference: bool,
    no_check: bool,
) -> None:
    """Add a datastore: a local folder, s3://, gs://, az:// or read-only https:// URL.

    The URL is checked (scheme, host or bucket, the folder exists) and the location is asked
    whether it exists, so a typo or an unreachable store is reported now, not at first use.
    """
    from gyre.data.datastores import add_datastore

    parsed: dict[str, object] = {
        key: _option_value(value)
        for key, value in parse_pairs(options, "--option", "endpoint_url=http://...").items()
    }
    if "endpoint_url" in parsed:
        parsed["client_kwargs"] = {"endpoint_url": parsed.pop("endpoint_url")}
    add_datastore(
        open_workspace(),
        name,
        url,
        secret=secret,
        options=parsed,
        by_reference=by_reference,
        check=not no_check,
    )
    click.echo(f"Added datastore {name} -> {url}" + (" (by reference)" if by_reference else ""))


def _option_value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@datastore.command("list")
@json_option
def list_stores(as_json: bool) -> None:
    from gyre.data.datastores import list_datastores

    found = list_datastores(open_workspace())
    if as_json:
        print_json([d.__dict__ for d in found])
        return
    table = new_table()
    for column in ("name", "url", "secret", "mode"):
        add_column(table, column)
    for d in found:
        table.add_row(d.name, d.url, d.secret or "", "by reference" if d.by_reference else "copy")
    print_table(table)


@datastore.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    from gyre.data.datastores import get_datastore

    found = get_datastore(open_workspace(), name)
    if as_json:
        print_json(found.__dict__)
        return
    click.echo(f"{found.name}: {found.url}")
    click.echo(f"  secret   {found.secret or '(environment / default credential chain)'}")
    click.echo(f"  options  {json.dumps(found.options)}")
    mode = "by reference (not copied)" if found.by_reference else "copy into the workspace"
    click.echo(f"  mode     {mode}")


@datastore.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    from gyre.data.datastores import remove_datastore

    remove_datastore(open_workspace(), name)
    click.echo(f"Removed datastore {name}")
