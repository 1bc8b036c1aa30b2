"""``gyre compute ...``."""

from __future__ import annotations

from typing import Any

import click

from gyre.cli.options import json_option, open_workspace, print_json
from gyre.cli.tables import add_column, new_table, print_table


@click.group()
def compute() -> None:
    """Compute targets: where steps run (local processes, or a Ray cluster)."""


@compute.command("add")
@click.argument("name")
@click.option("--type", "type_", type=click.Choice(["ray"]), default="ray", show_default=True)
@click.option("--address", required=True, help="ray://HOST:10001, or auto for a local cluster.")
def add(name: str, type_: str, address: str) -> None:
    """Add a compute target; steps use it with @step(compute=NAME) or gyre run --compute NAME."""
    from gyre.pipelines.compute_targets import add_target

    add_target(open_workspace(), name, type_, address)
    click.echo(f"Added compute target {name} ({type_} at {address})")


@compute.command("list")
@json_option
def list_targets(as_json: bool) -> None:
    from gyre.pipelines.compute_targets import LOCAL
    from gyre.pipelines.compute_targets import list_targets as targets

    found = targets(open_workspace())
    if as_json:
        print_json([{**LOCAL, "address": "this machine"}, *(t.__dict__ for t in found)])
        return
    table = new_table()
    for column in ("name", "type", "address"):
        add_column(table, column)
    table.add_row(LOCAL["name"], LOCAL["type"], LOCAL["address"])
    for t in found:
        table.add_row(t.name, t.type, t.address)
    print_table(table)


@compute.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show a target and, for Ray, the cluster's nodes and resources."""
    from gyre.pipelines.compute_targets import describe_target

    status = describe_target(open_workspace(), name)
    target = status.target
    if as_json:
        info: dict[str, Any] = {**target.__dict__}
        if status.nodes:
            info["nodes"] = status.nodes
        if status.error:
            info["error"] = status.error
        print_json(info)
        return
    click.echo(f"{target.name}: {target.type} at {target.address}")
    if status.error:
        click.echo(f"  {status.error}")
    for node in status.nodes:
        res = node["resources"]
        click.echo(
            f"  node {node['host']} {'alive' if node['alive'] else 'dead'}: "
            f"{res.get('CPU', 0):g} CPU, "
            f"{res.get('GPU', 0):g} GPU, {res.get('memory', 0) / 1e9:.1f} GB"
        )


@compute.command("stop")
@click.argument("name")
def stop(name: str) -> None:
    """Stop the warm Ray drivers serving a target: each ends its Ray job and its workers.

    A run on a cluster of this host goes through a driver that stays up a minute after its
    last run (docs/scale.md). It starts anew by itself when the project's modules or the
    installed packages change; stop it after what it cannot see, such as edits inside a
    package installed in development mode.
    """
    from gyre.pipelines.compute_targets import stop_warm_drivers

    stopped = stop_warm_drivers(open_workspace(), name)
    click.echo(f"stopped {stopped} warm driver{'s' if stopped != 1 else ''} of {name}")


@compute.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    from gyre.pipelines.compute_targets import remove_target

    remove_target(open_workspace(), name)
    click.echo(f"Removed compute target {name}")
