"""``gyre pipeline ...``: publish, submit, list and show pipelines."""

from __future__ import annotations

import datetime as dt

import click

from gyre.cli.backends import backend
from gyre.cli.options import (
    json_option,
    open_workspace,
    params_option,
    parse_params,
    parse_tags,
    print_json,
    tags_option,
)
from gyre.cli.tables import add_column, new_table, print_table


@click.group()
def pipeline() -> None:
    """Publish pipelines as named versions and submit runs of them."""


@pipeline.command("publish")
@click.argument("reference", metavar="FILE:PIPELINE")
@click.option("--name", help="Published name (default: the pipeline's name).")
@click.option("--description", "-m", help="What changed in this version.")
@json_option
def publish(reference: str, name: str | None, description: str | None, as_json: bool) -> None:
    """Store the pipeline and the project code it imports as a new version."""
    from gyre.pipelines.submission import publish as do_publish

    definition = do_publish(open_workspace(), reference, name, description)
    if as_json:
        print_json(definition.__dict__)
        return
    click.echo(
        f"Published {definition.name} version {definition.version} ({definition.entrypoint})"
    )


@pipeline.command("submit")
@click.argument("name")
@click.option("--version", type=int, help="Version to run (default: the newest).")
@params_option
@tags_option
@click.option("--wait", is_flag=True, help="Follow the run; with no agent running, run it here.")
@json_option
def submit(
    name: str,
    version: int | None,
    params: tuple[str, ...],
    tags: tuple[str, ...],
    wait: bool,
    as_json: bool,
) -> None:
    """Queue a run of a published pipeline for an agent."""
    where = backend()
    submitted = where.submit(name, version, parse_params(params), parse_tags(tags))
    if not wait:
        if as_json:
            print_json({"job": submitted.job_id, "run_id": submitted.run_id})
        else:
            click.echo(
                f"Queued run {submitted.run_id} of {name} version {submitted.pipeline.version} "
                f"(job {submitted.job_id}). An agent ('gyre agent') will run it."
            )
        return
    status = where.follow(submitted, click.echo)
    if as_json:
        print_json({"job": submitted.job_id, "run_id": submitted.run_id, "status": status})
    if status != "finished":
        raise SystemExit(1)


@pipeline.command("list")
@json_option
def list_pipelines(as_json: bool) -> None:
    """List published pipelines (newest version of each)."""
    newest = backend().newest_published()
    if as_json:
        print_json([r.__dict__ for r in newest])
        return
    table = new_table()
    for column in ("name", "versions", "entrypoint", "published"):
        add_column(table, column)
    for r in newest:
        when = dt.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M")
        table.add_row(r.name, str(r.version), r.entrypoint, when)
    print_table(table)


@pipeline.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show the versions of a published pipeline and the files each snapshot holds."""
    details = [
        {**v.definition.__dict__, "files": v.files} for v in backend().published_versions(name)
    ]
    if as_json:
        print_json(details)
        return
    for d in details:
        when = dt.datetime.fromtimestamp(d["created_at"]).strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{d['name']} version {d['version']}  {when}  by {d['created_by']}  {d['entrypoint']}"
        )
        if d["description"]:
            click.echo(f"  {d['description']}")
        for f in d["files"]:
            click.echo(f"    {f}")
