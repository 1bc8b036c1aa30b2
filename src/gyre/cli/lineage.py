"""``gyre lineage``."""

from __future__ import annotations

import click

from gyre.cli.options import json_option, open_workspace, print_json


@click.command()
@click.argument("subject", metavar="RUN_ID | NAME@N")
@click.option(
    "--model", is_flag=True, help="NAME@N is a model version (when a dataset shares the name)."
)
@json_option
def lineage(subject: str, model: bool, as_json: bool) -> None:
    """What produced a dataset or model version and what used it; or what a run read and wrote."""
    from gyre.data import lineage as graph_of

    graph = graph_of.of_subject(open_workspace(), subject, model=model)
    if as_json:
        print_json(graph.__dict__)
        return
    click.echo(graph.subject + (f" (commit {graph.commit})" if graph.commit else ""))
    for title, entries in (("produced by", graph.produced_by), ("used by", graph.used_by)):
        for e in entries:
            parent = f" in pipeline run {e['parent']}" if e["parent"] else ""
            click.echo(f"  {title}: {e['kind']} run {e['run']} ({e['name']}){parent}")
    for title, entries in (("read", graph.read), ("wrote", graph.wrote)):
        for e in entries:
            click.echo(f"  {title}: {e['dataset']} (step run {e['step_run']})")
    if not (graph.produced_by or graph.used_by or graph.read or graph.wrote):
        click.echo("  no recorded lineage")
