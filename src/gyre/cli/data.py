"""``gyre data ...`` and ``gyre lineage``."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from gyre.cli.options import by_reference_option, json_option, open_workspace, print_json
from gyre.cli.tables import add_column, console_for_output, new_table, print_table


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else ""


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A bytes-and-files progress bar on a terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.fields[files]} files"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("add", total=None, files=0)
        counts = {"files": 0}

        def advance(nbytes: int, nfiles: int) -> None:
            counts["files"] += nfiles
            bar.update(task, advance=nbytes, files=counts["files"])

        yield advance


@click.group()
def data() -> None:
    """Register, inspect, compare and fetch versioned datasets."""


@data.command("add")
@click.argument("name")
@click.argument("source", metavar="PATH_OR_URL")
@click.option("--datastore", "-s", help="Read SOURCE relative to this datastore.")
@by_reference_option("Record the source without copying it (its files stay where they are).")
@click.option(
    "--link",
    is_flag=True,
    help="Hard-link local files into the blob store instead of copying (they become read-only).",
)
@click.option("--description", "-m", help="What this version is.")
@click.option("--alias", help="Also give the new version this alias.")
@json_option
def add(
    name: str,
    source: str,
    datastore: str | None,
    by_reference: bool,
    link: bool,
    description: str | None,
    alias: str | None,
    as_json: bool,
) -> None:
    """Register a folder, a table file (.csv/.parquet/.jsonl) or a URL as a new version.

    Unchanged content creates no new version and copies nothing.
    """
    from gyre.data import versions

    store = open_workspace()
    with _progress(not as_json) as progress:
        result = versions.add(
            store,
            name,
            source,
            description=description,
            datastore=datastore,
            by_reference=by_reference,
            progress=progress,
            link=link,
            alias=alias,
        )
    v = result.version
    if as_json:
        print_json({**v.__dict__, "created": result.created})
        return
    if result.created:
        what = f"{v.rows} rows" if v.rows is not None else f"{v.files} files"
        click.echo(f"Registered {v.ref} ({v.layout}, {what}, {_size(v.size)})")
    else:
        click.echo(f"Unchanged: {v.ref} already holds this content; no new version.")


@data.command("list")
@json_option
def list_datasets(as_json: bool) -> None:
    """List datasets with their newest version."""
    from gyre.cli.backends import backend

    found = backend().list_datasets()
    if as_json:
        print_json(found)
        return
    table = new_table()
    for column in ("name", "kind", "latest", "versions", "created"):
        add_column(table, column)
    for d in found:
        table.add_row(
            d["name"], d["kind"], str(d["latest"] or ""), str(d["versions"]), _when(d["created_at"])
        )
    print_table(table)


def _parse(reference: str) -> tuple[str, str | None]:
    from gyre.refs import parse_ref

    return parse_ref(reference)


@data.command("show")
@click.argument("reference", metavar="NAME[@VERSION]")
@json_option
def show(reference: str, as_json: bool) -> None:
    """Show a dataset's versions, or one version (with classes for labeled image folders)."""
    from gyre.data import versions

    store = open_workspace()
    name, ref = _parse(reference)
    if ref is None:
        seen = versions.overview(store, name)
        dataset, found, parts = seen.dataset, seen.versions, seen.partitions
        held_back = _quarantined_rows(store, name) if dataset.kind == "append" else 0
        if as_json:
            print_json(
                {
                    **dataset.__dict__,
                    "versions": [v.__dict__ for v in found],
                    "partitions": [p.__dict__ for p in parts],
                    "quarantined_rows": held_back,
                }
            )
            return
        if dataset.kind == "append":
            rows_total = sum(p.rows for p in parts)
            span = (
                f" from {_when(parts[0].starts_at)} to {_when(parts[-1].ends_at)}" if parts else ""
            )
            click.echo(
                f"{name} (append-only): {len(parts)} sealed partitions, {rows_total} rows{span}"
            )
            if held_back:
                click.echo(
                    f"{held_back} scored row(s) could not be written and are quarantined: "
                    f"gyre data quarantine {name}"
                )
        table = new_table(title=f"{name} ({dataset.kind})")
        for column in (
            "version",
            "aliases",
            "layout",
            "files",
            "rows",
            "size",
            "created",
            "description",
        ):
            add_column(table, column)
        for v in found:
            table.add_row(
                str(v.version),
                ",".join(v.aliases),
                v.layout,
                str(v.files),
                str(v.rows if v.rows is not None else ""),
                _size(v.size),
                _when(v.created_at),
                v.description or "",
            )
        print_table(table)
        return
    from gyre.workspace.fsck import damage_of

    version = versions.get(store, name, ref)
    profile = versions.profile(store, version)
    damaged = damage_of(store, [f"dataset {version.ref}"])
    if as_json:
        print_json({**version.__dict__, "profile": profile, "damage": damaged})
        return
    for line in damaged:
        click.echo(f"damaged: {line}", err=True)
    console = console_for_output()
    console.print(
        f"[bold]{version.ref}[/] {version.layout}"
        + (f"  aliases: {', '.join(version.aliases)}" if version.aliases else "")
    )
    console.print(
        f"  source   {version.source or ''}"
        + (f" (datastore {version.datastore})" if version.datastore else "")
    )
    console.print(
        f"  content  {version.files} files, {_size(version.size)}"
        + (f", {version.rows} rows" if version.rows is not None else "")
    )
    console.print(f"  digest   {version.digest}")
    console.print(
        f"  created  {_when(version.created_at)} by {version.created_by}"
        + (f" in run {version.run_id}" if version.run_id else "")
    )
    if version.description:
        console.print(f"  about    {version.description}")
    if version.schema:
        console.print(
            "  schema   " + ", ".join(f"{c['name']}: {c['type']}" for c in version.schema)
        )
    if profile.get("kind") == "labeled-images":
        _print_classes(console, profile["classes"])


def _quarantined_rows(store: Any, name: str) -> int:
    """Rows the collector quarantined for an inference dataset (0 for other datasets)."""
    from gyre.serving import quarantine

    if not name.endswith(quarantine.SUFFIX):
        return 0
    return sum(q.rows for q in quarantine.of_dataset(store, name))


def _print_classes(console: Console, classes: dict[str, int]) -> None:
    total = sum(classes.values()) or 1
    widest = max(classes.values() or [1])
    table = new_table(title="classes")
    for column in ("class", "images", "share", ""):
        add_column(table, column, justify="right" if column in ("images", "share") else "left")
    for label, count in classes.items():
        bar = "█" * max(1 if count else 0, round(30 * count / widest))
        table.add_row(label, str(count), f"{100 * count / total:.1f}%", bar)
    print_table(table, console)


@data.command("profile")
@click.argument("reference", metavar="NAME[@VERSION]")
@json_option
def profile(reference: str, as_json: bool) -> None:
    """Print the profile computed when the version was registered."""
    from gyre.data import versions

    store = open_workspace()
    name, ref = _parse(reference)
    version = versions.get(store, name, ref)
    found = versions.profile(store, version)
    if as_json:
        print_json(found)
        return
    console = console_for_output()
    console.print(f"[bold]{version.ref}[/] profile ({found.get('kind')})")
    if found.get("kind") == "table":
        table = new_table()
        for column in ("column", "type", "count", "nulls", "min", "max", "mean", "std", "top"):
            add_column(table, column)
        for col, entry in found["columns"].items():
            top = ", ".join(f"{t['value']} ({t['count']})" for t in entry.get("top", [])[:3])
            table.add_row(
                col,
                entry["type"],
                str(entry["count"]),
                str(entry["nulls"]),
                *(_num(entry.get(k)) for k in ("min", "max", "mean", "std")),
                top,
            )
        print_table(table, console)
    elif found.get("kind") == "labeled-images":
        _print_classes(console, found["classes"])
        stats = found.get("image_stats")
        if stats:
            console.print(
                f"  sizes {stats['sizes']}  channel means "
                f"{[round(c, 3) for c in stats['channel_means']]}  brightness "
                f"{stats['brightness_mean']:.3f} ± {stats['brightness_std']:.3f} "
                f"({stats['sampled']} sampled)"
            )
    else:
        print_json(found)


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))


@data.command("diff")
@click.argument("old", metavar="NAME@N")
@click.argument("new", metavar="NAME@M")
@json_option
def diff(old: str, new: str, as_json: bool) -> None:
    """Files added/removed/changed, or for tables schema changes and row counts."""
    from gyre.data import versions

    store = open_workspace()
    a = versions.get(store, *_parse(old))
    b = versions.get(store, *_parse(new))
    result = versions.diff(store, a, b)
    if as_json:
        print_json(result)
        return
    click.echo(f"{a.ref} -> {b.ref}")
    if result["kind"] == "table":
        click.echo(f"  rows: {result['rows'][0]} -> {result['rows'][1]}")
        schema = result["schema"]
        for col in schema["columns_added"]:
            click.echo(f"  + column {col}")
        for col in schema["columns_removed"]:
            click.echo(f"  - column {col}")
        for col, (before, after) in schema["types_changed"].items():
            click.echo(f"  ~ column {col}: {before} -> {after}")
        return
    for sign, key in (("+", "added"), ("-", "removed"), ("~", "changed")):
        for path in result[key]:
            click.echo(f"  {sign} {path}")
    click.echo(
        f"  {len(result['added'])} added, {len(result['removed'])} removed, "
        f"{len(result['changed'])} changed"
    )


@data.command("get")
@click.argument("reference", metavar="NAME@N")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "jsonl"]),
    help="Write a table in this format (default: from DEST's extension; Parquet for a folder).",
)
def get(reference: str, dest: Path, fmt: str | None) -> None:
    """Copy a version to DEST, verified: a file set as a folder, a table as one file.

    A table goes to DEST.csv, DEST.parquet or DEST.jsonl (JSON lines), or NAME.parquet in the
    folder DEST. The file is complete or absent: it is written under a temporary name and
    renamed into place.
    """
    from gyre.data import versions

    store = open_workspace()
    version = versions.get(store, *_parse(reference))
    written = versions.export(store, version, dest, fmt)
    click.echo(f"Wrote {version.ref} to {written}")


@data.command("delete")
@click.argument("reference", metavar="NAME@N")
@click.option("--force", is_flag=True, help="Delete even if runs used it or aliases point at it.")
def delete(reference: str, force: bool) -> None:
    """Delete a version (refused while a run used it, unless --force); blobs go with gyre gc."""
    from gyre.data import versions

    name, ref = _parse(reference)
    if ref is None:
        raise click.BadParameter("give the version to delete: NAME@N", param_hint="NAME@N")
    version = versions.delete(open_workspace(), name, ref, force=force)
    click.echo(f"Deleted {version.ref}. 'gyre gc' frees blobs nothing references now.")


@data.command("alias")
@click.argument("reference", metavar="NAME@N")
@click.argument("alias")
def alias(reference: str, alias: str) -> None:
    """Point ALIAS (e.g. baseline) at a version: NAME@ALIAS then resolves to it."""
    from gyre.data import versions

    version = versions.set_alias(open_workspace(), *_parse(reference), alias)
    click.echo(f"{version.dataset}@{alias} -> {version.ref}")


@data.command("tag", hidden=True)
@click.argument("reference", metavar="NAME@N")
@click.argument("alias_name", metavar="ALIAS")
@click.pass_context
def tag(ctx: click.Context, reference: str, alias_name: str) -> None:
    """Deprecated spelling of 'gyre data alias' (kept for one release)."""
    click.echo(
        "Note: 'gyre data tag' is now 'gyre data alias'; the old spelling goes away in the "
        "next release.",
        err=True,
    )
    ctx.invoke(alias, reference=reference, alias=alias_name)


@data.command("describe")
@click.argument("reference", metavar="NAME@N")
@click.argument("text")
def describe(reference: str, text: str) -> None:
    """Set the description of a version."""
    from gyre.data import versions

    version = versions.describe(open_workspace(), *_parse(reference), text)
    click.echo(f"Described {version.ref}")


@data.command("check")
@click.argument("reference", metavar="NAME@N")
def check(reference: str) -> None:
    """For a version registered by reference: has its source changed since?"""
    from gyre.data import versions

    store = open_workspace()
    version = versions.get(store, *_parse(reference))
    if version.layout != "reference":
        click.echo(f"{version.ref} is stored in the workspace: its content cannot change.")
        return
    changes = versions.check_reference(store, version)
    if not changes:
        click.echo(f"{version.ref}: the source is unchanged.")
        return
    click.echo(f"{version.ref}: the source changed since it was registered:")
    for change in changes:
        click.echo(f"  {change}")
    raise SystemExit(1)


@data.command("partitions")
@click.argument("name")
@json_option
def partitions(name: str, as_json: bool) -> None:
    """List the sealed partitions of an append-only dataset."""
    from gyre.data import append_only

    found = append_only.list_partitions(open_workspace(), name)
    if as_json:
        print_json([p.__dict__ for p in found])
        return
    table = new_table()
    for column in ("partition", "rows", "from", "to"):
        add_column(table, column)
    for p in found:
        table.add_row(p.partition_key, str(p.rows), _when(p.starts_at), _when(p.ends_at))
    print_table(table)


@data.command("snapshot")
@click.argument("name")
def snapshot(name: str) -> None:
    """Make a version of an append-only dataset from the partitions sealed so far."""
    from gyre.data import append_only

    version = append_only.snapshot(open_workspace(), name)
    click.echo(f"{version.ref}: {version.files} partitions, {version.rows} rows")


@data.command("quarantine")
@click.argument("name", metavar="ENDPOINT-inference")
@json_option
def quarantine(name: str, as_json: bool) -> None:
    """List the scored requests the collector could not write to an inference dataset.

    Each is kept, with the reason, in quarantine.jsonl beside the endpoint's journal; every
    other row was written. --json prints them whole (with the journal record).
    """
    from gyre.serving import quarantine as quarantined

    found = quarantined.of_dataset(open_workspace(), name)
    if as_json:
        print_json([q.__dict__ for q in found])
        return
    if not found:
        click.echo(f"{name}: no quarantined rows.")
        return
    rows_total = sum(q.rows for q in found)
    click.echo(f"{name}: {len(found)} quarantined request(s), {rows_total} row(s)")
    table = new_table()
    for column in ("quarantined", "request", "model", "rows", "reason"):
        add_column(table, column)
    for q in found:
        model = f"{q.model}@{q.version}" if q.model else ""
        table.add_row(_when(q.quarantined_at), q.request_id or "", model, str(q.rows), q.reason)
    print_table(table)


@data.command("label")
@click.argument("name")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="CSV, Parquet or JSON lines file of labels.",
)
@click.option("--key", default="request_id", show_default=True, help="The request id column.")
@click.option("--column", help="The label column (default: 'label', or the only other one).")
@json_option
def label(name: str, source: Path, key: str, column: str | None, as_json: bool) -> None:
    """Add ground truth for collected rows of NAME (an inference dataset), joined by request
    id: a new version of NAME-labels; the collected rows are not edited. Monitors of NAME
    then report accuracy and F1 (or MAE) per window."""
    from gyre.monitoring import labels

    record, given, matched = labels.add(open_workspace(), name, source, key=key, column=column)
    if as_json:
        print_json({"version": record.ref, "labels": given, "matched": matched})
        return
    click.echo(
        f"{record.ref}: {given} labels from {source.name}, {matched} match a collected "
        f"request of {name}"
    )
