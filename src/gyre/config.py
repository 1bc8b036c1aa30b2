"""Resolve which workspace a command or SDK call talks to.

Order: the ``GYRE_URI`` environment variable, then ``gyre.yaml`` in the current directory or an
ancestor, then a ``.gyre/`` folder in the current directory or an ancestor. The result is a
:class:`WorkspaceSettings`, passed down explicitly; nothing here is a process-wide singleton.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gyre.errors import WorkspaceError

WORKSPACE_DIR = ".gyre"
CONFIG_FILE = "gyre.yaml"


@dataclass(frozen=True)
class WorkspaceSettings:
    """Where a workspace keeps its metadata, its blobs and its local scratch space."""

    db_url: str
    artifacts_url: str
    local_dir: Path
    """Local folder for caches, live logs and temp files (the workspace folder when embedded)."""
    artifacts_options: dict[str, Any] = field(default_factory=dict)
    """fsspec options for the artifact store (e.g. an S3 endpoint); credentials come from the
    environment or the filesystem's own credential chain, never from here."""

    @property
    def embedded(self) -> bool:
        return self.db_url.startswith("sqlite")


def embedded_settings(workspace_dir: Path) -> WorkspaceSettings:
    workspace_dir = workspace_dir.resolve()
    return WorkspaceSettings(
        db_url=f"sqlite:///{workspace_dir / 'gyre.db'}",
        artifacts_url=str(workspace_dir / "blobs"),
        local_dir=workspace_dir,
    )


def _settings_for_uri(uri: str, artifacts: str | None, origin: str) -> WorkspaceSettings:
    if uri.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        if not artifacts:
            raise WorkspaceError(
                f"{origin} names a PostgreSQL workspace ({_redact(uri)}) but no artifact "
                "location. Set GYRE_ARTIFACTS (or 'artifacts:' in gyre.yaml) to an fsspec URL "
                "such as s3://bucket/gyre or /shared/gyre-blobs."
            )
        url = uri.replace("postgres://", "postgresql://", 1)
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        cache = (
            Path(os.environ.get("GYRE_CACHE_DIR", Path.home() / ".cache" / "gyre"))
            / hashlib.sha256(url.encode()).hexdigest()[:16]
        )
        return WorkspaceSettings(db_url=url, artifacts_url=artifacts, local_dir=cache)
    if is_server_url(uri):
        raise WorkspaceError(
            f"{origin} names a gyre server ({uri}); this operation is not offered through "
            "the server yet and needs the workspace itself: run it with GYRE_URI set to the "
            "workspace (postgresql://... with GYRE_ARTIFACTS) or on the server's machine. "
            "Through the server work: gyre runs, logs, metrics, artifacts, events, audit, "
            "model register/list/show/compare/history/alias/tag, data list, pipeline "
            "list/show/submit, release list/show and decisions, endpoint list/show/traffic, "
            "user, token, and "
            "gyre.start_run with gyre.log_* (docs/server.md)."
        )
    if "://" in uri and not uri.startswith("file://"):
        raise WorkspaceError(
            f"{origin} is {uri!r}, which is neither a folder nor a postgresql:// URL. "
            "Use a path to a workspace folder (as made by 'gyre init') or postgresql://..."
        )
    path = Path(uri.removeprefix("file://")).expanduser()
    settings = embedded_settings(path)
    if artifacts:
        settings = WorkspaceSettings(settings.db_url, artifacts, settings.local_dir)
    return settings


def is_server_url(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def server_url(start: Path | None = None) -> str | None:
    """The team server this process speaks to (``GYRE_URI`` or ``workspace:`` in gyre.yaml
    being an ``http(s)://`` URL), or None when it uses a workspace directly."""
    uri = os.environ.get("GYRE_URI")
    if uri is None:
        config_file = _find_upwards((start or Path.cwd()).resolve(), CONFIG_FILE)
        if config_file is not None:
            import yaml

            try:
                data = yaml.safe_load(config_file.read_text()) or {}
            except (OSError, yaml.YAMLError):
                return None  # resolve() reports the file's problem
            uri = data.get("workspace") if isinstance(data, dict) else None
    if isinstance(uri, str) and is_server_url(uri):
        return uri.rstrip("/")
    return None


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _find_upwards(start: Path, name: str) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / name
        if candidate.exists():
            return candidate
    return None


def resolve(start: Path | None = None) -> WorkspaceSettings:
    """Find the workspace for ``start`` (default: the current directory).

    Raises:
        WorkspaceError: when no workspace is configured or found; the message says how to make one.
    """
    start = (start or Path.cwd()).resolve()
    uri = os.environ.get("GYRE_URI")
    artifacts = os.environ.get("GYRE_ARTIFACTS")
    if uri:
        return _with_options(_settings_for_uri(uri, artifacts, "GYRE_URI"), _env_options())
    config_file = _find_upwards(start, CONFIG_FILE)
    if config_file is not None:
        configured = _from_config_file(config_file, artifacts)
        if configured is not None:
            return configured
    found = _find_upwards(start, WORKSPACE_DIR)
    if found is not None and found.is_dir():
        return embedded_settings(found)
    raise WorkspaceError(
        f"No gyre workspace found in {start} or its parents. "
        "Run 'gyre init' here to create one, or set GYRE_URI to an existing workspace."
    )


def _from_config_file(config_file: Path, artifacts: str | None) -> WorkspaceSettings | None:
    """The workspace ``gyre.yaml`` names; None when it names none (it may hold only ``ci:``
    settings): then ``./.gyre`` is looked for as without the file."""
    import yaml

    try:
        data = yaml.safe_load(config_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WorkspaceError(
            f"Could not read {config_file}: {exc}. Fix or remove the file."
        ) from exc
    if not isinstance(data, dict):
        raise WorkspaceError(
            f"{config_file} must be a mapping (e.g. 'workspace: .gyre', 'ci: ...')."
        )
    uri = data.get("workspace")
    if uri is None:
        return None
    if not isinstance(uri, str) or not uri:
        raise WorkspaceError(
            f"{config_file}: 'workspace:' must be a path or URL, e.g. 'workspace: .gyre' "
            "or 'workspace: postgresql://host/db'."
        )
    if not uri.startswith(("postgres", "/", "~")) and "://" not in uri:
        uri = str(config_file.parent / uri)
    settings = _settings_for_uri(uri, artifacts or data.get("artifacts"), str(config_file))
    options = data.get("artifacts_options") or {}
    if not isinstance(options, dict):
        raise WorkspaceError(f"{config_file}: 'artifacts_options' must be a mapping.")
    return _with_options(settings, {**options, **_env_options()})


def _env_options() -> dict[str, Any]:
    import json

    raw = os.environ.get("GYRE_ARTIFACTS_OPTIONS")
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise WorkspaceError(
            f"GYRE_ARTIFACTS_OPTIONS is not JSON ({exc}). Set it like "
            '{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}.'
        ) from None
    if not isinstance(options, dict):
        raise WorkspaceError("GYRE_ARTIFACTS_OPTIONS must be a JSON object.")
    return options


def _with_options(settings: WorkspaceSettings, options: dict[str, Any]) -> WorkspaceSettings:
    if not options:
        return settings
    return WorkspaceSettings(settings.db_url, settings.artifacts_url, settings.local_dir, options)
