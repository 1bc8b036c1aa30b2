"""Endpoints: a stable name and URL serving versions of one model with a traffic split and a
shadow, kept running by the agent. The capability behind ``gyre endpoint``."""

from gyre.endpoints.definitions import (
    create,
    delete,
    find,
    get,
    list_endpoints,
    log_path,
    manifest_path,
    set_traffic,
    url,
    wait_applied,
)
from gyre.store.endpoints import EndpointRow

__all__ = [
    "EndpointRow",
    "create",
    "delete",
    "find",
    "get",
    "list_endpoints",
    "log_path",
    "manifest_path",
    "set_traffic",
    "url",
    "wait_applied",
]
