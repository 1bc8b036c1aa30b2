"""``gyre model ...``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from gyre.cli.backends import backend
from gyre.cli.options import (
    json_option,
    open_workspace,
    parse_pairs,
    parse_tags,
    print_json,
    tags_option,
)
from gyre.cli.tables import add_column, new_table, print_table


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _num(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))


@click.group()
def model() -> None:
    """Register, alias, compare and delete model versions."""


@model.command("register")
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--flavor", type=click.Choice(["python", "sklearn", "torch", "onnx"]))
@click.option("--entry", help="python flavor: scoring module (score.py) or module:Class.")
@click.option(
    "--signature",
    "signature_file",
    type=click.Path(exists=True, path_type=Path),
    help="A JSON file with the input/output signature.",
)
@click.option("--metric", "metrics", multiple=True, metavar="KEY=VALUE")
@tags_option
@click.option("--description", "-m")
@click.option("--trusted", is_flag=True, help="Accept pickle files in the model folder.")
@json_option
def register(
    name: str,
    path: Path,
    flavor: str | None,
    entry: str | None,
    signature_file: Path | None,
    metrics: tuple[str, ...],
    tags: tuple[str, ...],
    description: str | None,
    trusted: bool,
    as_json: bool,
) -> None:
    """Register a model folder or file (.onnx, .skops, .pt) as a new version of NAME."""
    from gyre.registry.models import register_model

    parsed_metrics = _metric_values(parse_pairs(metrics, "--metric", "accuracy=0.93"))
    signature = json.loads(signature_file.read_text()) if signature_file else None
    version = register_model(
        name,
        path,
        flavor=flavor,
        entry=entry,
        signature=signature,
        metrics=parsed_metrics,
        tags=parse_tags(tags),
        description=description,
        trusted=trusted,  # the configured workspace, or through the server GYRE_URI names
    )
    if as_json:
        print_json(version.__dict__)
        return
    click.echo(f"Registered {version.ref} ({version.flavor})")


@model.command("list")
@json_option
def list_models(as_json: bool) -> None:
    found = backend().list_models()
    if as_json:
        print_json(found)
        return
    table = new_table()
    for column in ("name", "latest", "versions", "created"):
        add_column(table, column)
    for m in found:
        table.add_row(m["name"], str(m["latest"] or ""), str(m["versions"]), _when(m["created_at"]))
    print_table(table)


@model.command("show")
@click.argument("reference", metavar="NAME[@VERSION|@ALIAS]")
@json_option
def show(reference: str, as_json: bool) -> None:
    """Show a model's versions, or one version with its lineage."""
    from gyre.refs import parse_ref

    name, ref = parse_ref(reference)
    where = backend()
    found = where.model_versions(reference)
    damaged = where.damage_of([f"model {v.ref}" for v in found])
    if as_json:
        shown = [{**v.__dict__, "damage": where.damage_of([f"model {v.ref}"])} for v in found]
        print_json(shown if ref is None else shown[0])
        return
    for line in damaged:
        click.echo(f"damaged: {line}", err=True)
    if ref is None:
        table = new_table(title=name)
        for column in ("version", "aliases", "flavor", "tags", "metrics", "run", "created"):
            add_column(table, column)
        for v in found:
            table.add_row(
                str(v.version),
                ",".join(v.aliases),
                v.flavor,
                " ".join(f"{k}={x}" for k, x in v.tags.items()),
                " ".join(f"{k}={_num(x)}" for k, x in (v.metrics or {}).items()),
                v.run_id or "",
                _when(v.created_at),
            )
        print_table(table)
        return
    v = found[0]
    click.echo(
        f"{v.ref} ({v.flavor})" + (f"  aliases: {', '.join(v.aliases)}" if v.aliases else "")
    )
    click.echo(f"  created   {_when(v.created_at)} by {v.created_by}")
    click.echo(
        f"  run       {v.run_id or '-'}  pipeline run {v.pipeline_run_id or '-'}"
        f" ({v.pipeline or '-'})"
    )
    click.echo(f"  git       {v.git_commit or '-'}")
    click.echo(f"  datasets  {', '.join(v.datasets or []) or '-'}")
    click.echo(f"  tags      {' '.join(f'{k}={x}' for k, x in v.tags.items()) or '-'}")
    click.echo(
        f"  metrics   {' '.join(f'{k}={_num(x)}' for k, x in (v.metrics or {}).items()) or '-'}"
    )
    if v.signature:
        inputs = ", ".join(f"{i['name']}: {i['type']}" for i in v.signature.get("inputs", []))
        click.echo(f"  inputs    {inputs}")


@model.command("compare")
@click.argument("references", nargs=-1, required=True)
@json_option
def compare(references: tuple[str, ...], as_json: bool) -> None:
    """Metrics (and tags) of several versions side by side: seer@1 seer@2, or just seer."""
    where = backend()
    found = [v for reference in references for v in where.model_versions(reference)]
    if as_json:
        print_json([{"ref": v.ref, "metrics": v.metrics, "tags": v.tags} for v in found])
        return
    table = new_table()
    add_column(table, "")
    for v in found:
        add_column(table, v.ref, justify="right")
    for key in sorted({k for v in found for k in (v.metrics or {})}):
        table.add_row(f"metrics.{key}", *(_num((v.metrics or {}).get(key)) for v in found))
    for key in sorted({k for v in found for k in v.tags}):
        table.add_row(f"tags.{key}", *(v.tags.get(key, "") for v in found))
    print_table(table)


@model.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
def alias(name: str, alias: str, version: int) -> None:
    """Point NAME@ALIAS (e.g. seer@production) at VERSION; recorded with who and when."""
    previous = backend().set_alias(name, alias, version)
    moved = f" (was {previous})" if previous is not None else ""
    click.echo(f"{name}@{alias} -> {version}{moved}")


@model.command("history")
@click.argument("name")
@json_option
def history(name: str, as_json: bool) -> None:
    """Every alias change of a model: when, who, from which version to which."""
    found = backend().alias_history(name)
    if as_json:
        print_json(found)
        return
    table = new_table()
    for column in ("when", "alias", "from", "to", "who"):
        add_column(table, column)
    for h in found:
        table.add_row(
            _when(h["changed_at"]),
            h["alias"],
            str(h["previous"] or "-"),
            str(h["version"] or "(removed)"),
            h["changed_by"] or "",
        )
    print_table(table)


@model.command("tag")
@click.argument("reference", metavar="NAME@VERSION")
@tags_option
def tag(reference: str, tags: tuple[str, ...]) -> None:
    """Add or change tags of a version (tags are metadata; content never changes)."""
    version = backend().set_model_tags(reference, parse_tags(tags))
    click.echo(f"Tagged {version.ref}")


@model.command("delete")
@click.argument("reference", metavar="NAME@VERSION")
def delete(reference: str) -> None:
    """Delete a version (refused while an alias points at it)."""
    from gyre.registry.models import delete as delete_version

    record = delete_version(open_workspace(), reference)
    click.echo(f"Deleted {record.ref}. 'gyre gc' frees blobs nothing references now.")


@model.command("export")
@click.argument("reference", metavar="NAME@VERSION|NAME@ALIAS")
@click.argument("dest", type=click.Path(path_type=Path))
def export(reference: str, dest: Path) -> None:
    """Write a folder that scores without gyre: model files, pinned requirements, serve.py."""
    from gyre.registry.export import export as write_export

    folder = write_export(open_workspace(), reference, dest)
    click.echo(
        f"Exported {reference} to {folder}: pip install -r requirements.txt; python serve.py"
    )


def _metric_values(pairs: dict[str, str]) -> dict[str, float]:
    try:
        return {key: float(value) for key, value in pairs.items()}
    except ValueError:
        raise click.BadParameter(
            "a metric's value must be a number, like --metric accuracy=0.93",
            param_hint="--metric",
        ) from None
