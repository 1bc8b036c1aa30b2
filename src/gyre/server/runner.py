"""``gyre server``: serve a workspace to a team with uvicorn, in one or several processes.

Each worker process opens the workspace itself (from ``GYRE_URI``/``GYRE_ARTIFACTS``, which
the parent sets) and keeps nothing of its own, so workers, and servers on other machines,
can share one workspace behind any load balancer.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import socket
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gyre.errors import InvalidParameter, ServeFailed
from gyre.server.oidc import OidcSettings

if TYPE_CHECKING:
    from gyre.store import Store

AUTH_ENV = "GYRE_SERVER_AUTH"


OIDC_ENV = "GYRE_SERVER_OIDC"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    auth: bool = True
    oidc: OidcSettings | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(config: ServerConfig) -> None:
    if not config.auth and not is_loopback(config.host):
        raise InvalidParameter(
            f"--no-auth serves the workspace to anyone who reaches {config.host}; it is allowed "
            "only on a loopback address (--host 127.0.0.1). Give people tokens instead "
            "('gyre token create USER').",
            field="no_auth",
        )
    if config.oidc is not None and not config.auth:
        raise InvalidParameter(
            "--oidc-issuer signs people in, --no-auth lets everyone in: give one of them.",
            field="oidc_issuer",
        )
    if config.oidc is not None and config.oidc.new_users not in (None, "reader", "contributor"):
        raise InvalidParameter(
            "--oidc-new-users makes readers or contributors; approvers and admins are made "
            "by an admin (gyre user role NAME approver).",
            field="oidc_new_users",
        )
    if config.workers < 1:
        raise InvalidParameter("--workers must be at least 1.", field="workers")
    with socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, config.port))
        except OSError as exc:
            raise ServeFailed(
                f"Cannot listen on {config.host}:{config.port}: {exc.strerror}. Pick another "
                "--port, or stop what holds it."
            ) from None


def first_admin_token(store: Store) -> str | None:
    """The first admin's token, made when the server first starts on a workspace without
    users; None when it has users (their admins make tokens)."""
    from gyre.access.tokens import bootstrap_admin

    issued = bootstrap_admin(store, description="printed by the first 'gyre server'")
    return issued.secret if issued is not None else None


def app_from_environment() -> Any:
    """The app for one uvicorn worker (``--workers N``): the workspace from the environment."""
    from gyre.server.app import create_app
    from gyre.tracking.current_store import current_store

    oidc = os.environ.get(OIDC_ENV)
    return create_app(
        current_store(),
        auth=os.environ.get(AUTH_ENV, "1") == "1",
        oidc=OidcSettings(**json.loads(oidc)) if oidc else None,
    )


def serve(store: Store, config: ServerConfig) -> None:
    import logging

    import uvicorn

    from gyre.server.app import create_app

    check(config)
    if config.auth:
        token = first_admin_token(store)
        if token is not None:
            print(
                "This workspace had no users: an admin 'admin' was made. Its token, shown this "
                f"once (keep it in a password manager):\n\n    {token}\n",
                file=sys.stderr,
                flush=True,
            )
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    common: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_level": "warning",
        "timeout_graceful_shutdown": 30,
        "proxy_headers": False,
    }
    if config.workers == 1:
        uvicorn.run(create_app(store, auth=config.auth, oidc=config.oidc), **common)
        return
    os.environ[AUTH_ENV] = "1" if config.auth else "0"
    if config.oidc is not None:
        os.environ[OIDC_ENV] = json.dumps(dataclasses.asdict(config.oidc))
    store.close()
    uvicorn.run(
        "gyre.server.runner:app_from_environment", factory=True, workers=config.workers, **common
    )
