"""``gyre runs ...``, ``gyre logs``, ``gyre metrics`` and ``gyre artifacts``."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import click

from gyre.cli.backends import backend
from gyre.cli.options import json_option, print_json
from gyre.cli.tables import add_column, console_for_output, new_table, print_table

SPARKS = "▁▂▃▄▅▆▇█"


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _effective_status(record: Any) -> str:
    from gyre.tracking.liveness import effective_status

    return effective_status(record)


@click.group()
def runs() -> None:
    """List, show, compare, cancel and delete runs."""


@runs.command("list")
@click.option("--experiment", "-e", help="Only runs of this experiment.")
@click.option(
    "--filter", "filter_text", help='e.g. "metrics.val_accuracy > 0.9 and params.epochs = 20"'
)
@click.option("--order-by", help="A field, then asc or desc, e.g. 'metrics.val_accuracy desc'.")
@click.option("--limit", default=50, show_default=True)
@click.option("--steps", is_flag=True, help="List step runs instead of pipeline runs.")
@json_option
def list_runs(
    experiment: str | None,
    filter_text: str | None,
    order_by: str | None,
    limit: int,
    steps: bool,
    as_json: bool,
) -> None:
    """List pipeline runs and tracked runs, newest first.

    A pipeline run matches a metric, param or tag condition when it or one of its steps does.
    """
    rows = backend().find_runs(
        filter_text=filter_text,
        order_by=order_by,
        experiment=experiment,
        limit=limit,
        kinds=("step",) if steps else ("pipeline", "run"),
    )
    if as_json:
        print_json(
            [
                {
                    **row.record.__dict__,
                    "status": _effective_status(row.record),
                    "params": row.params,
                    "tags": row.tags,
                    "metrics": row.metrics,
                }
                for row in rows
            ]
        )
        return
    metric_keys = sorted({k for row in rows for k in row.metrics})[:4]
    table = new_table()
    for column in ("id", "name", "status", "started", "duration", "tags", *metric_keys):
        add_column(table, column, justify="right" if column in metric_keys else "left")
    for row in rows:
        r = row.record
        table.add_row(
            r.id,
            r.name,
            _effective_status(r),
            _when(r.started_at),
            f"{r.duration:.1f}s" if r.duration is not None else "",
            " ".join(f"{k}={v}" for k, v in sorted(row.tags.items())),
            *(_num(row.metrics.get(k)) for k in metric_keys),
        )
    print_table(table)


def _run_detail(run_id: str) -> dict[str, Any]:
    return backend().run_detail(run_id)


@runs.command("show")
@click.argument("run_id")
@json_option
def show(run_id: str, as_json: bool) -> None:
    """Show a run: status, params, tags, metrics, steps and their outcomes."""
    detail = _run_detail(run_id)
    if as_json:
        print_json(detail)
        return
    console = console_for_output()
    console.print(
        f"[bold]{detail['kind']} run {detail['id']}[/] {detail['name']} "
        f"(experiment {detail['experiment']})"
    )
    console.print(
        f"  status   {detail['status']}" + (f": {detail['error']}" if detail["error"] else "")
    )
    console.print(f"  started  {_when(detail['started_at'])}   ended {_when(detail['ended_at'])}")
    console.print(f"  source   {detail['source'] or ''}")
    commit = detail["git_commit"] or "not in git"
    console.print(f"  git      {commit}{' (dirty)' if detail['git_dirty'] else ''}")
    console.print(f"  host     {detail['host']}  python {detail['python']}")
    for line in detail["damage"]:
        console.print(f"  [red]damaged[/]  {line}")
    for title in ("params", "tags", "metrics"):
        if detail[title]:
            console.print(
                f"  {title:8} "
                + "  ".join(f"{k}={_num(v)}" for k, v in sorted(detail[title].items()))
            )
    if detail["steps"]:
        table = new_table(title="steps")
        for column in ("step", "outcome", "duration", "run", "note"):
            add_column(table, column)
        for s in detail["steps"]:
            note = s["error"] or (f"reused {s['reused_from']}" if s["reused_from"] else "")
            table.add_row(
                s["name"],
                s["outcome"] or s["status"],
                f"{s['duration']:.2f}s" if s["duration"] is not None else "",
                s["id"],
                note,
            )
        print_table(table, console)


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@json_option
def compare(run_ids: tuple[str, ...], as_json: bool) -> None:
    """Params and metrics of several runs side by side (a step's metrics count for its run)."""
    details = [_run_detail(r) for r in run_ids]
    merged = []
    for d in details:
        metrics = dict(d["metrics"])
        for s in d["steps"]:
            for k, v in s["metrics"].items():
                metrics.setdefault(k, v)
        merged.append({"id": d["id"], "params": d["params"], "metrics": metrics, "tags": d["tags"]})
    if as_json:
        print_json(merged)
        return
    table = new_table()
    add_column(table, "")
    for m in merged:
        add_column(table, m["id"], justify="right")
    for section in ("params", "metrics", "tags"):
        keys = sorted({k for m in merged for k in m[section]})
        for key in keys:
            values = [m[section].get(key) for m in merged]
            style = "bold" if len({str(v) for v in values}) > 1 else ""
            table.add_row(
                f"{section}.{key}",
                *(f"[{style}]{_num(v)}[/]" if style else _num(v) for v in values),
            )
    print_table(table)


@runs.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(run_ids: tuple[str, ...], yes: bool) -> None:
    """Delete runs with their steps, metrics and artifact records (blobs go with 'gyre gc')."""
    where = backend()
    ids = where.resolve_ids(list(run_ids))
    if not yes:
        click.confirm(f"Delete {len(ids)} run(s) and their steps?", abort=True)
    count = where.delete_runs(ids)
    click.echo(f"Deleted {count} run record(s). 'gyre gc' frees blobs nothing references now.")


@runs.command("cancel")
@click.argument("run_id")
def cancel(run_id: str) -> None:
    """Cancel a running or queued run; its runner stops the step processes within a second."""
    message = backend().cancel_run(run_id)
    click.echo(message)


@click.command()
@click.argument("run_id")
@click.argument("step", required=False)
def logs(run_id: str, step: str | None) -> None:
    """Print the logs of a run's steps (or of one step)."""
    for log in backend().logs(run_id, step):
        click.secho(f"==> {log.name} ({log.state}) <==", bold=True)
        if log.text:
            click.echo(log.text.rstrip("\n"))


def sparkline(values: list[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    return "".join(
        " " if math.isnan(v) else SPARKS[int((v - low) / span * (len(SPARKS) - 1))] for v in values
    )


@click.command()
@click.argument("run_id")
@click.argument("key", required=False)
@click.option("--step", "step_name", help="For a pipeline run: the step whose metrics to show.")
@json_option
def metrics(run_id: str, key: str | None, step_name: str | None, as_json: bool) -> None:
    """Print metric histories: a sparkline per metric, or one metric's full table."""
    histories = backend().metric_histories(run_id, key, step_name)
    if as_json:
        print_json(
            {
                k: [{"step": s, "value": v, "timestamp": t} for s, v, t in h]
                for k, h in histories.items()
            }
        )
        return
    console = console_for_output()
    if key is not None and len(histories) == 1:
        table = new_table()
        add_column(table, "step", justify="right")
        add_column(table, key, justify="right")
        for s, v, _ in next(iter(histories.values())):
            table.add_row(str(s), _num(v))
        print_table(table, console)
        return
    table = new_table()
    for column in ("metric", "points", "last", "min", "max", "history"):
        add_column(table, column)
    for name, points in sorted(histories.items()):
        values = [v for _, v, _ in points]
        tail = values[-60:]
        table.add_row(
            name,
            str(len(values)),
            _num(values[-1]),
            _num(min(values)),
            _num(max(values)),
            sparkline(tail),
        )
    print_table(table, console)


@click.group()
def artifacts() -> None:
    """List and fetch a run's artifacts and step outputs."""


@artifacts.command("list")
@click.argument("run_id")
@json_option
def list_artifacts(run_id: str, as_json: bool) -> None:
    rows = backend().artifacts(run_id)
    if as_json:
        print_json(rows)
        return
    table = new_table()
    for column in ("step", "name", "kind", "size", "digest"):
        add_column(table, column)
    for a in rows:
        table.add_row(
            a["step"], a["name"], a["materializer"], str(a["size"] or ""), a["digest"][:12]
        )
    print_table(table)


@artifacts.command("get")
@click.argument("run_id")
@click.argument("name", metavar="[STEP/]NAME")
@click.argument("dest", type=click.Path(path_type=Path))
def get_artifact(run_id: str, name: str, dest: Path) -> None:
    """Copy an artifact (or STEP/OUTPUT of a pipeline run) to DEST, verified."""
    artifact = backend().fetch_artifact(run_id, name, dest)
    click.echo(f"Wrote {artifact} to {dest}")
