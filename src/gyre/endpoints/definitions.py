"""Create, re-route and delete endpoints: the desired state, validated and audited.

An endpoint is a stable name and port serving versions of one registered model. What it
should serve is a row in the store (``traffic``: version -> percent, ``shadow``); the serving
process applies each change without a restart (:mod:`gyre.endpoints.process`), and a
supervisor keeps that process alive (:mod:`gyre.endpoints.supervisor`). On the ``ray`` target
the replicas of a Ray Serve application apply it (:mod:`gyre.endpoints.ray_serve`), and Ray
Serve keeps them alive; on ``kubernetes`` each change is written as a KServe manifest.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

from gyre.errors import Conflict, GyreError, InvalidParameter, NotFound
from gyre.registry import models as registry
from gyre.store import audit
from gyre.store import endpoints as rows
from gyre.store.endpoints import EndpointRow
from gyre.store.names import check_name
from gyre.tracking.liveness import process_exists

if TYPE_CHECKING:
    from gyre.store import Store

TARGETS = ("local", "kubernetes", "ray")
PLANNED_TARGETS: tuple[str, ...] = ()
DELETE_WAIT_S = 40.0


def machine_name() -> str:
    return socket.gethostname()


def create(
    store: Store,
    name: str,
    model: str,
    *,
    target: str = "local",
    host: str = "127.0.0.1",
    port: int | None = None,
    options: dict[str, Any] | None = None,
    actor: str | None = None,
) -> EndpointRow:
    """An endpoint serving ``model`` (``NAME@VERSION`` or ``NAME@ALIAS``) with all traffic."""
    if target not in TARGETS:
        planned = " is planned, not built yet" if target in PLANNED_TARGETS else " is unknown"
        raise InvalidParameter(
            f"Target {target!r}{planned}; endpoints run on: {', '.join(TARGETS)} "
            "(--target local: serving processes on this machine, supervised by 'gyre agent'; "
            "--target kubernetes: a KServe InferenceService; --target ray: a Ray Serve "
            "application on an existing Ray cluster).",
            field="target",
        )
    if "@" not in model:
        raise InvalidParameter(
            f"Say which version of {model!r} the endpoint starts with: {model}@VERSION or "
            f"{model}@ALIAS (e.g. {model}@production).",
            field="model",
        )
    record = registry.get(store, model)
    if port is not None and not 0 < port < 65536:
        raise InvalidParameter(f"--port {port} is not a TCP port (1-65535).", field="port")
    options = dict(options or {})
    if target == "ray":
        return _create_on_ray(store, name, record, host, port, options, actor)
    if target == "kubernetes":
        from gyre.endpoints import kubernetes

        check_name(name, "endpoint")
        namespace = str(options.setdefault("namespace", "default"))
        host, port = f"{name}.{namespace}.svc.cluster.local", 80
        kubernetes.check_flavor(record.ref, record.flavor)
    with store.write() as tx:
        chosen = port if port is not None else _free_port(host, rows.used_ports(tx, host))
        row = rows.insert(
            tx,
            name,
            model=record.name,
            target=target,
            host=host,
            port=chosen,
            traffic={record.version: 100},
            options=options,
        )
        audit.append(
            tx,
            actor or audit.default_actor(),
            "endpoint.create",
            f"endpoint {name}",
            {"model": record.name, "version": record.version, "target": target, "port": chosen},
        )
    if target == "kubernetes":
        return _publish_manifest(store, row, actor)
    return row


def _create_on_ray(
    store: Store,
    name: str,
    record: Any,
    host: str,
    port: int | None,
    options: dict[str, Any],
    actor: str | None,
) -> EndpointRow:
    """Deploy the endpoint's Ray Serve application; the endpoint exists once it serves (a
    deployment that fails leaves nothing behind)."""
    from gyre.endpoints import ray_serve

    check_name(name, "endpoint")
    options = ray_serve.check_options(options)
    if find(store, name) is not None:
        get(store, name)  # what exists is named before the cluster is asked anything
        raise Conflict(
            f"Endpoint {name!r} exists. 'gyre endpoint traffic {name} ...' changes what it "
            f"serves; 'gyre endpoint delete {name}' removes it."
        )
    with ray_serve.connected(str(options["address"])) as address:
        ray_serve.check_workspace(store)
        options["address"] = address
        host, port = ray_serve.start_proxy(host, port)
        with store.read() as tx:
            holder = next((r for r in rows.list_all(tx) if (r.host, r.port) == (host, port)), None)
        if holder is not None:
            raise Conflict(
                f"Endpoint {holder.name!r} already serves through the Ray Serve proxy at "
                f"http://{host}:{port}, and a workspace holds one endpoint per address for now. "
                f"Serve {name!r} on another cluster, or give {holder.name!r}'s model versions "
                f"a place in its traffic split instead."
            )
        with store.write() as tx:
            row = rows.insert(
                tx,
                name,
                model=record.name,
                target="ray",
                host=host,
                port=port,
                traffic={record.version: 100},
                options=options,
            )
            audit.append(
                tx,
                actor or audit.default_actor(),
                "endpoint.create",
                f"endpoint {name}",
                {"model": record.name, "version": record.version, "target": "ray", "port": port},
            )
        try:
            ray_serve.deploy(store, row)
        except GyreError as exc:
            with store.write() as tx:
                rows.remove(tx, name)
                audit.append(
                    tx,
                    actor or audit.default_actor(),
                    "endpoint.delete",
                    f"endpoint {name}",
                    {"reason": str(exc)},
                )
            raise
    return get(store, name)


def get(store: Store, name: str) -> EndpointRow:
    with store.read() as tx:
        return rows.get(tx, name)


def list_endpoints(store: Store) -> list[EndpointRow]:
    with store.read() as tx:
        return rows.list_all(tx)


def set_traffic(
    store: Store,
    name: str,
    weights: dict[str, str],
    *,
    shadow: str | None = None,
    keep_shadow: bool = True,
    actor: str | None = None,
) -> EndpointRow:
    """Route ``name``'s requests by ``weights`` (version or alias -> percent, summing to 100);
    ``shadow``: a version that gets a copy of every request (``keep_shadow``: leave it as it
    is when ``shadow`` is None). Versions are resolved to numbers now: an alias that moves
    later does not move the traffic."""
    current = get(store, name)
    traffic = _resolve_weights(store, current.model, weights)
    chosen = current.shadow if keep_shadow and shadow is None else None
    if shadow is not None and shadow.lower() != "none":
        chosen = _resolve_version(store, current.model, shadow, "shadow")
    if chosen is not None and chosen in traffic:
        raise InvalidParameter(
            f"Version {chosen} cannot be the shadow and take {traffic[chosen]}% of the traffic: "
            "a shadow's answers are never returned. Drop it from the split or pick another "
            "shadow (--shadow none removes it).",
            field="shadow",
        )
    if current.target == "kubernetes":
        from gyre.endpoints import kubernetes

        kubernetes.check_split(traffic, chosen)
    with store.write() as tx:
        row = rows.set_traffic(tx, name, traffic, chosen)
        audit.append(
            tx,
            actor or audit.default_actor(),
            "endpoint.traffic",
            f"endpoint {name}",
            {
                "from": {str(k): v for k, v in current.traffic.items()},
                "to": {str(k): v for k, v in traffic.items()},
                "shadow_from": current.shadow,
                "shadow_to": chosen,
                "generation": row.generation,
            },
        )
    if row.target == "kubernetes":
        return _publish_manifest(store, row, actor)
    return row


def _publish_manifest(store: Store, row: EndpointRow, actor: str | None) -> EndpointRow:
    """Write (and, with a cluster configured, apply) the endpoint's KServe manifest."""
    from gyre.endpoints import kubernetes

    path = kubernetes.write(store, row.name, row.model, row.traffic, row.options)
    outcome = kubernetes.apply(path)
    applied = outcome.startswith("applied")
    with store.write() as tx:
        rows.report_ready(
            tx, row.name, "kubectl" if applied else "manifest only", 0, row.generation
        )
        if outcome.startswith("kubectl apply failed"):
            rows.report_error(tx, row.name, outcome)
        audit.append(
            tx,
            actor or audit.default_actor(),
            "endpoint.manifest",
            f"endpoint {row.name}",
            {"path": str(path), "outcome": outcome, "generation": row.generation},
        )
        return rows.get(tx, row.name)


def find(store: Store, name: str) -> EndpointRow | None:
    with store.read() as tx:
        return rows.find(tx, name)


def wait_applied(store: Store, name: str, generation: int, timeout_s: float = 60.0) -> EndpointRow:
    """Wait until the serving process serves ``generation`` (or later) of the desired state;
    Conflict, with the reason, when it reports that it cannot or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = get(store, name)
        if row.applied_generation is not None and row.applied_generation >= generation:
            return row
        # An error counts once no process runs, or once the process says it cannot apply it;
        # a process restarting meanwhile has an error recorded but a pid too.
        error = row.last_error or ""
        failed = bool(error) and (row.pid is None or "not applied" in error)
        if failed and row.generation == generation:
            raise Conflict(f"Endpoint {name!r} cannot serve change {generation}: {row.last_error}")
        if time.monotonic() > deadline:
            why = f" Its last error: {row.last_error}" if row.last_error else ""
            running = (
                f"its serving process (pid {row.pid}) has not applied it yet."
                if row.pid
                else "no serving process runs it: start 'gyre agent', which keeps it running."
            )
            raise Conflict(
                f"Endpoint {name!r} does not serve change {generation} after {timeout_s:.0f} s: "
                f"{running}{why}"
            )
        time.sleep(0.1)


def delete(store: Store, name: str, *, actor: str | None = None) -> None:
    """Stop the endpoint's serving process (it finishes the requests it has and converts what
    it collected) and remove the endpoint; its inference dataset stays. On the ray target the
    Ray Serve application is deleted (its replicas stop the same way)."""
    with store.write() as tx:
        row = rows.mark_deleting(tx, name)
        audit.append(tx, actor or audit.default_actor(), "endpoint.delete", f"endpoint {name}")
    undeployed = None
    if row.target == "kubernetes" and row.machine == "kubectl":
        from gyre.endpoints import kubernetes

        kubernetes.delete(manifest_path(store, name))
    elif row.target == "ray":
        from gyre.endpoints import ray_serve

        undeployed = ray_serve.undeploy(row)
    elif row.pid and row.machine == machine_name():
        _wait_for_exit(row.pid, DELETE_WAIT_S)
    with store.write() as tx:
        rows.remove(tx, name)
        if undeployed is not None:
            audit.append(
                tx,
                actor or audit.default_actor(),
                "endpoint.undeploy",
                f"endpoint {name}",
                {"outcome": undeployed},
            )


def url(row: EndpointRow) -> str:
    """Where clients reach the endpoint (on the ray target, under its route prefix on the
    cluster's Serve proxy)."""
    if row.target == "ray":
        from gyre.endpoints import ray_serve

        return ray_serve.url(row)
    return row.url


def log_path(store: Store, name: str) -> Any:
    """The serving process's log file (stdout and stderr, appended across restarts)."""
    return store.settings.local_dir / "serving" / name / "server.log"


def manifest_path(store: Store, name: str) -> Any:
    """The KServe manifest of an endpoint on the kubernetes target."""
    from gyre.endpoints import kubernetes

    return kubernetes.folder(store, name) / "inferenceservice.yaml"


def _wait_for_exit(pid: int, timeout_s: float) -> None:
    """The process sees the deletion within a second and stops by itself; SIGTERM if not."""
    deadline = time.monotonic() + timeout_s
    while process_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_exists(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while process_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


def _resolve_weights(store: Store, model: str, weights: dict[str, str]) -> dict[int, int]:
    if not weights:
        raise InvalidParameter(
            "Give the split as VERSION=PERCENT pairs, e.g. 7=90 8=10.", field="traffic"
        )
    traffic: dict[int, int] = {}
    for key, value in weights.items():
        version = _resolve_version(store, model, key, "traffic")
        try:
            percent = int(value)
        except ValueError:
            percent = -1
        if not 0 <= percent <= 100:
            raise InvalidParameter(
                f"{key}={value}: the share must be a whole percent from 0 to 100.",
                field="traffic",
            )
        if version in traffic:
            raise InvalidParameter(
                f"{key}={value}: version {version} is in the split twice.", field="traffic"
            )
        traffic[version] = percent
    total = sum(traffic.values())
    if total != 100:
        shares = " + ".join(str(v) for v in traffic.values())
        raise InvalidParameter(
            f"The shares add up to {total} ({shares}); they must add up to 100 (e.g. 7=90 8=10).",
            field="traffic",
        )
    return {version: percent for version, percent in traffic.items() if percent > 0}


def _resolve_version(store: Store, model: str, key: str, field: str) -> int:
    text = key.strip()
    if text[:1] in "vV" and text[1:].isdigit():
        text = text[1:]
    try:
        return registry.get(store, f"{model}@{text}").version
    except NotFound as exc:
        raise InvalidParameter(f"{field}: {exc}", field=field) from None


def _free_port(host: str, taken: set[int]) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port
    raise Conflict(f"Found no free port on {host}; pick one with --port.")
