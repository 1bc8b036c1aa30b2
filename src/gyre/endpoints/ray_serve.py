"""The ``ray`` target: an endpoint served as a Ray Serve application on an existing cluster.

    gyre endpoint create seer --target ray --model seer@7 \\
        --option address=10.0.0.5:6379 --option replicas=4 --option num_cpus=2 --option memory=2GiB

The application is named ``gyre-NAME`` and mounted at ``/NAME`` on the cluster's Serve proxy
(started on the head node on ``--host``/``--port`` when Serve does not run there yet; a running
Serve keeps its own), so the endpoint's URL is ``http://HOST:PORT/NAME``. Its replicas
(:mod:`gyre.endpoints.ray_replica`) serve the scoring app of ``gyre serve`` and follow the
endpoint's row in the workspace: a traffic change reaches them live, with no redeployment.

gyre deploys the application when the endpoint is created and deletes it when the endpoint is;
in between Ray Serve keeps the replicas running (its controller restarts one that dies or fails
its health check). Nothing of gyre has to run beside the cluster, and no agent supervises it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gyre.errors import (
    ComputeUnavailable,
    InvalidParameter,
    MissingExtra,
    ServeFailed,
    did_you_mean,
)

if TYPE_CHECKING:
    from gyre.store import Store
    from gyre.store.endpoints import EndpointRow

DEFAULT_PORT = 8000  # Ray Serve's own default
START_TIMEOUT_S = 120.0
# The options every target takes (the scoring app's), and the ray target's own.
SERVING_OPTIONS = ("max_batch", "max_wait_ms", "max_body_bytes", "collect")
RAY_OPTIONS = ("address", "replicas", "num_cpus", "num_gpus", "memory", "start_timeout_s")
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}


def app_name(endpoint: str) -> str:
    return f"gyre-{endpoint}"


def route_prefix(endpoint: str) -> str:
    return f"/{endpoint}"


def url(row: EndpointRow) -> str:
    """Where clients reach the endpoint: the Serve proxy, under the application's prefix."""
    return f"{row.url}{route_prefix(row.name)}"


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options with their types (the CLI gives text); InvalidParameter names a bad one."""
    checked = dict(options)
    for key in checked:
        if key not in (*SERVING_OPTIONS, *RAY_OPTIONS):
            close = did_you_mean(key, RAY_OPTIONS)
            raise InvalidParameter(
                f"--option {key}: the ray target has no such option.{close} "
                f"It takes: {', '.join(RAY_OPTIONS)} "
                "(e.g. --option replicas=2 --option num_cpus=1 --option memory=2GiB).",
                field=key,
            )
    checked["address"] = str(checked.get("address") or os.environ.get("RAY_ADDRESS") or "auto")
    checked["replicas"] = int(_number(checked, "replicas", 1, minimum=1, whole=True))
    checked["num_cpus"] = _number(checked, "num_cpus", 1.0, minimum=0.0)
    checked["num_gpus"] = _number(checked, "num_gpus", 0.0, minimum=0.0)
    checked["start_timeout_s"] = _number(checked, "start_timeout_s", START_TIMEOUT_S, minimum=1.0)
    if checked.get("memory") is not None:
        checked["memory"] = _bytes(str(checked["memory"]))
    return checked


def _number(
    options: dict[str, Any], key: str, default: float, *, minimum: float, whole: bool = False
) -> float:
    value = options.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number >= minimum or (whole and number != int(number)):
        kind = "a whole number" if whole else "a number"
        raise InvalidParameter(
            f"--option {key}={value}: must be {kind} of at least {minimum:g} "
            f"(e.g. {key}={int(default) if whole else default:g}).",
            field=key,
        )
    return number


def _bytes(text: str) -> int:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]i?)?b?\s*", text.lower())
    if found is None or float(found.group(1)) <= 0:
        raise InvalidParameter(
            f"--option memory={text}: give the bytes each replica needs, e.g. memory=2GiB, "
            "memory=512MiB or memory=1000000000.",
            field="memory",
        )
    return int(float(found.group(1)) * _UNITS[found.group(2) or ""])


def _serve() -> Any:
    try:
        from ray import serve
    except ImportError as exc:
        raise MissingExtra("ray[serve]", "ray", "Serving an endpoint on a Ray cluster") from exc
    return serve


@contextlib.contextmanager
def connected(address: str) -> Iterator[str]:
    """This process connected to the cluster at ``address`` (``auto``: the one on this machine);
    yields the cluster's GCS address, which the endpoint keeps to find it again."""
    from gyre.pipelines.executors.ray.connection import check_reachable

    _serve()
    import ray

    address = _resolve(address)
    check_reachable(address)  # seconds sooner than Ray's own retries, and names the address

    if ray.is_initialized():  # this process is a driver already (a run's): reuse it
        current = ray.get_runtime_context().gcs_address
        if address not in ("auto", current):
            raise ComputeUnavailable(
                f"This process is connected to the Ray cluster at {current} already and cannot "
                f"reach {address!r} too: serve the endpoint from a process of its own "
                "(gyre endpoint create ... --target ray)."
            )
        yield current
        return
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except ConnectionError as exc:
        raise ComputeUnavailable(
            f"Cannot reach the Ray cluster at {address!r} to serve the endpoint: {exc} "
            "Start one (ray start --head) or name it with --option address=HOST:PORT."
        ) from None
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _resolve(address: str) -> str:
    """``auto``: the cluster ``ray start`` last recorded on this machine, as Ray finds it (a
    record left by a cluster that is gone must fail as an unreachable address, not hang)."""
    if address != "auto":
        return address
    from ray._private import services

    try:
        found = services.canonicalize_bootstrap_address("auto")
    except Exception:  # Ray's own lookup failed: nothing to connect to
        found = None
    if not found:
        raise ComputeUnavailable(
            "No Ray cluster runs on this machine to serve the endpoint. Start one "
            "(ray start --head), or name one with --option address=HOST:PORT or RAY_ADDRESS."
        )
    return str(found)


def start_proxy(host: str, port: int | None) -> tuple[str, int]:
    """Serve's HTTP proxy on the head node: started on ``host:port`` when Serve does not run
    yet; a running Serve keeps its own. Returns where clients reach it."""
    serve = _serve()
    import ray

    serve.start(
        http_options={"host": host, "port": port or DEFAULT_PORT}, proxy_location="HeadOnly"
    )
    config = serve.context._get_global_client().http_config
    reached = str(config.host)
    if reached in ("0.0.0.0", "::", ""):  # every interface of the head node: its address
        reached = ray.get_runtime_context().gcs_address.rsplit(":", 1)[0]
    return reached, int(config.port)


def check_workspace(store: Store) -> None:
    """An embedded workspace (a SQLite file, local blobs) serves replicas on this host only."""
    import socket

    import ray

    hosts = {n["NodeManagerHostname"] for n in ray.nodes() if n["Alive"]}  # type: ignore[no-untyped-call]
    if store.settings.embedded and hosts - {socket.gethostname()}:
        raise InvalidParameter(
            f"The Ray cluster has nodes on other hosts ({', '.join(sorted(hosts))}), but this "
            f"workspace is embedded ({store.settings.local_dir}): replicas there cannot read "
            "its SQLite file and blobs. Use a shared workspace: GYRE_URI=postgresql://... with "
            "GYRE_ARTIFACTS=s3://... (see docs/scale.md).",
            field="address",
        )


def deploy(store: Store, row: EndpointRow) -> None:
    """Run the endpoint's application and wait until it serves (``start_timeout_s``);
    ServeFailed, with Ray Serve's reason, when it cannot (the application is removed)."""
    serve = _serve()
    from ray.serve.api import RunTarget

    # By name: the replica's module runs on the cluster's workers; here it only hands Ray the
    # class to pickle by reference, and the deploying process (the CLI, an agent running a
    # release) keeps the serving layer out.
    replica = importlib.import_module("gyre.endpoints.ray_replica")

    options = row.options
    name = app_name(row.name)
    if name in serve.status().applications:
        raise ServeFailed(
            f"The Ray cluster at {options['address']} already runs a Serve application named "
            f"{name!r} (another workspace's endpoint {row.name!r}?). Delete it there "
            f"(serve delete {name}) or pick another endpoint name."
        )
    actor_options: dict[str, Any] = {
        "num_cpus": options["num_cpus"],
        "num_gpus": options["num_gpus"],
    }
    if options.get("memory"):
        actor_options["memory"] = options["memory"]
    application = replica.EndpointReplica.options(
        name="endpoint", num_replicas=options["replicas"], ray_actor_options=actor_options
    ).bind(row.name, settings(store))
    target = RunTarget(target=application, name=name, route_prefix=route_prefix(row.name))
    try:
        serve.run_many([target], wait_for_applications_running=False)
        _wait_running(name, float(options["start_timeout_s"]))
    except Exception as exc:
        with contextlib.suppress(Exception):
            serve.delete(name)
        if isinstance(exc, ServeFailed):
            raise
        raise ServeFailed(
            f"Ray Serve did not deploy endpoint {row.name!r} on {options['address']}: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def _wait_running(name: str, timeout_s: float) -> None:
    serve = _serve()
    deadline = time.monotonic() + timeout_s
    while True:
        status = serve.status().applications.get(name)
        state = str(getattr(status, "status", "")).rsplit(".", 1)[-1]
        if state == "RUNNING":
            return
        reasons = _reasons(status)
        if state in ("DEPLOY_FAILED", "UNHEALTHY"):
            raise ServeFailed(f"Ray Serve could not start the application {name!r}: {reasons}")
        if time.monotonic() > deadline:
            raise ServeFailed(
                f"The application {name!r} was not running after {timeout_s:.0f} s: "
                f"{reasons or 'no reason given'}. A cluster without the resources each replica "
                "asks for (num_cpus, num_gpus, memory) waits for them: ask for less, add "
                "nodes, or wait longer with --option start_timeout_s=600."
            )
        time.sleep(0.5)


def _reasons(status: Any) -> str:
    if status is None:
        return ""
    found = [str(status.message)] if getattr(status, "message", "") else []
    for deployment in getattr(status, "deployments", {}).values():
        if getattr(deployment, "message", ""):
            found.append(str(deployment.message))
    return " ".join(found)[-2000:]


def undeploy(row: EndpointRow) -> str:
    """Delete the endpoint's application (its replicas convert what they collected as they
    stop); what happened, in words. A cluster that is gone has nothing left to delete."""
    try:
        with connected(str(row.options["address"])):
            serve = _serve()
            name = app_name(row.name)
            if name not in serve.status().applications:
                return f"no application {name} on the cluster"
            serve.delete(name)
            return f"deleted the application {name}"
    except ComputeUnavailable as exc:
        return f"not deleted from the cluster: {exc}"


def settings(store: Store) -> dict[str, Any]:
    """What a replica needs to open the workspace."""
    return {
        "db_url": store.settings.db_url,
        "artifacts_url": store.settings.artifacts_url,
        "artifacts_options": store.settings.artifacts_options,
        "local_dir": str(store.settings.local_dir),
    }
