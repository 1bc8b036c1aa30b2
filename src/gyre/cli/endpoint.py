"""``gyre endpoint ...``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import click

from gyre.cli.backends import backend
from gyre.cli.options import json_option, open_workspace, parse_pairs, print_json
from gyre.cli.tables import add_column, new_table, print_table

if TYPE_CHECKING:
    from gyre.endpoints import EndpointRow

WAIT_S = 60.0


@click.group()
def endpoint() -> None:
    """Endpoints: a stable URL serving model versions with a traffic split, kept running by
    'gyre agent'."""


@endpoint.command("create")
@click.argument("name")
@click.option(
    "--model",
    "model",
    required=True,
    metavar="MODEL@VERSION",
    help="What it serves first, e.g. seer@3 or seer@production.",
)
@click.option(
    "--target",
    default="local",
    show_default=True,
    help="Where it runs: local (serving processes on this machine, supervised by the agent), "
    "kubernetes (a KServe InferenceService, applied with kubectl when a kubeconfig is set) "
    "or ray (a Ray Serve application on an existing Ray cluster).",
)
@click.option(
    "--option",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="kubernetes: namespace=NS, storage_uri=s3://bucket/prefix (where KServe reads models). "
    "ray: address=HOST:PORT (default: RAY_ADDRESS, else the cluster on this machine), "
    "replicas=N, num_cpus=N, num_gpus=N, memory=2GiB (each replica's), start_timeout_s=S.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (ray: the Serve proxy's, when Serve is not running yet).",
)
@click.option(
    "--port",
    type=int,
    help="A stable port (default: a free one, kept for good; ray: the Serve proxy's, 8000).",
)
@click.option("--max-batch", type=int, default=512, show_default=True)
@click.option("--max-wait-ms", type=float, default=5.0, show_default=True)
@click.option("--no-collect", is_flag=True, help="Do not collect inputs and predictions.")
@click.option("--wait/--no-wait", default=False, help="Wait until it serves (needs an agent).")
@json_option
def create(
    name: str,
    model: str,
    target: str,
    host: str,
    port: int | None,
    max_batch: int,
    max_wait_ms: float,
    no_collect: bool,
    wait: bool,
    as_json: bool,
    extra: tuple[str, ...],
) -> None:
    """Create an endpoint; 'gyre agent' starts its serving process and keeps it running
    (--target kubernetes: writes, and applies, its KServe manifest instead; --target ray:
    deploys a Ray Serve application, which Ray Serve keeps running)."""
    from gyre import endpoints

    store = open_workspace()
    options: dict[str, object] = {
        "max_batch": max_batch,
        "max_wait_ms": max_wait_ms,
        "collect": not no_collect,
        **parse_pairs(extra, "--option", "namespace=ml"),
    }
    row = endpoints.create(store, name, model, target=target, host=host, port=port, options=options)
    if wait:
        row = endpoints.wait_applied(store, name, row.generation, WAIT_S)
    if as_json:
        print_json(_as_dict(row))
        return
    version = next(iter(row.traffic))
    click.echo(f"Created endpoint {name}: {row.model}@{version} at {endpoints.url(row)}")
    if row.target == "ray":
        click.echo(f"Ray Serve application gyre-{name} on {row.options['address']} ({_ray(row)})")
    elif row.target == "kubernetes":
        click.echo(f"KServe manifest: {endpoints.manifest_path(store, name)} ({_state(row)})")
    elif row.pid is None:
        click.echo("'gyre agent' starts it and keeps it running.")


@endpoint.command("traffic")
@click.argument("name")
@click.argument("split", nargs=-1, metavar="VERSION=PERCENT...")
@click.option(
    "--shadow",
    metavar="VERSION",
    help="A version that gets a copy of every request; its answers are collected to "
    "NAME-shadow-inference, never returned. 'none' removes it.",
)
@click.option(
    "--wait/--no-wait",
    default=None,
    help="Wait until the serving process applies it (default: when one is running).",
)
def traffic(name: str, split: tuple[str, ...], shadow: str | None, wait: bool | None) -> None:
    """Split NAME's requests between versions: gyre endpoint traffic seer 7=90 8=10.

    The serving process loads a new version before it routes to it and closes an old one
    after its last request: no request is dropped. Aliases work too (production=90).
    """

    where = backend()
    if split:
        weights = parse_pairs(split, "VERSION=PERCENT", "7=90 8=10")
    else:
        if shadow is None:
            raise click.UsageError("Give the split (e.g. 7=90 8=10), --shadow, or both.")
        weights = {str(v): str(p) for v, p in where.endpoint(name).traffic.items()}
    if wait is None:  # wait when a serving process runs to apply it
        wait = where.endpoint(name).pid is not None
    row = where.set_traffic(name, weights, shadow, WAIT_S if wait else None)
    shares = ", ".join(f"{v}: {p}%" for v, p in row.traffic.items())
    extra = f"; shadow {row.shadow}" if row.shadow is not None else ""
    state = "serving" if row.applied_generation == row.generation else "set"
    click.echo(f"Endpoint {name} {state}: {shares}{extra}")


@endpoint.command("list")
@json_option
def list_endpoints(as_json: bool) -> None:
    """The endpoints, what they serve and whether their process runs."""
    from gyre import endpoints

    found = backend().list_endpoints()
    if as_json:
        print_json([_as_dict(r) for r in found])
        return
    table = new_table()
    for column in ("name", "model", "traffic", "shadow", "url", "state"):
        add_column(table, column)
    for row in found:
        shares = " ".join(f"{v}={p}" for v, p in row.traffic.items())
        table.add_row(
            row.name,
            row.model,
            shares,
            str(row.shadow or ""),
            endpoints.url(row),
            _state(row),
        )
    print_table(table)


@endpoint.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """One endpoint: its split, its process, restarts and last error."""
    from gyre import endpoints

    row = backend().endpoint(name)
    if as_json:
        print_json(_as_dict(row))
        return
    click.echo(f"{row.name}: {row.model} on {row.target} at {endpoints.url(row)} ({_state(row)})")
    for version, percent in row.traffic.items():
        click.echo(f"  version {version}: {percent}%")
    if row.shadow is not None:
        click.echo(f"  version {row.shadow}: shadow (answers to {row.name}-shadow-inference)")
    click.echo(
        f"  collects to: {row.name}-inference"
        if row.options.get("collect", True)
        else "  collects nothing (--no-collect)"
    )
    if row.target == "ray":
        click.echo(f"  Ray Serve application gyre-{row.name} on {row.options['address']}")
        click.echo(f"  {_ray(row)}; Ray Serve restarts a replica that fails")
    elif row.pid is not None:
        click.echo(f"  process: pid {row.pid} on {row.machine}, restarts: {row.restarts}")
    if row.supervisor:
        click.echo(f"  supervised by agent {row.supervisor}")
    click.echo(f"  change {row.generation}, serving change {row.applied_generation or '-'}")
    if row.last_error:
        click.echo(f"  last error: {row.last_error}")


@endpoint.command("logs")
@click.argument("name")
@click.option("--lines", "-n", default=50, show_default=True, help="How many of the last lines.")
def logs(name: str, lines: int) -> None:
    """The serving process's log (start-up, changes applied, errors, the collector's passes)."""
    from gyre import endpoints

    store = open_workspace()
    row = endpoints.get(store, name)
    if row.target == "ray":
        click.echo(
            f"Endpoint {name}'s replicas log on the Ray cluster ({row.options['address']}): "
            f"the dashboard's Serve page, or logs/serve/ in each node's session folder "
            "(/tmp/ray/session_latest)."
        )
        return
    path = endpoints.log_path(store, name)
    if not path.exists():
        click.echo(f"Endpoint {name} has no log yet: it has not been started ('gyre agent').")
        return
    text = path.read_bytes()[-(lines * 400 + 1) :].decode("utf-8", "replace")
    for line in text.splitlines()[-lines:]:
        click.echo(line)


@endpoint.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask.")
def delete(name: str, yes: bool) -> None:
    """Stop the endpoint's process (it answers what it has and converts what it collected)
    and remove the endpoint. Its inference dataset stays."""
    from gyre import endpoints

    store = open_workspace()
    row = endpoints.get(store, name)
    if not yes:
        click.confirm(f"Delete endpoint {name} ({endpoints.url(row)})?", abort=True)
    endpoints.delete(store, name)
    click.echo(f"Deleted endpoint {name}; its inference dataset {name}-inference stays.")


def _state(row: EndpointRow) -> str:
    if row.state != "active":
        return row.state
    if row.target == "kubernetes":
        applied = row.applied_generation == row.generation and row.machine == "kubectl"
        return "applied" if applied else "manifest written, not applied"
    if row.target == "ray" and row.applied_generation is None:
        return "error" if row.last_error else "deployed"
    if row.pid is None:
        return "error" if row.last_error else "not running"
    if row.applied_generation is None:
        return "starting"
    if row.applied_generation < row.generation:
        return "changing"
    return "serving"


def _ray(row: EndpointRow) -> str:
    """A ray endpoint's replicas and what each asks the cluster for."""
    asks = [f"num_cpus={row.options['num_cpus']:g}", f"num_gpus={row.options['num_gpus']:g}"]
    if row.options.get("memory"):
        asks.append(f"memory={row.options['memory'] / 1024**2:.0f}MiB")
    return f"{row.options['replicas']} replica(s), each {', '.join(asks)}"


def _as_dict(row: EndpointRow) -> dict[str, Any]:
    from gyre import endpoints

    data = dict(row.__dict__)
    data["traffic"] = {str(k): v for k, v in row.traffic.items()}
    data["url"] = endpoints.url(row)
    data["status"] = _state(row)
    for key in ("created_at", "updated_at", "ready_at"):
        if data.get(key):
            data[key] = dt.datetime.fromtimestamp(data[key]).isoformat(timespec="seconds")
    return data
