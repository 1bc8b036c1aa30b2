"""Named secrets (datastore credentials), kept out of the metadata database.

They live in one JSON file readable only by its owner: ``$GYRE_SECRETS_FILE``, else
``~/.config/gyre/secrets.json``. A secret's value is a JSON object of fsspec storage options
(e.g. ``{"key": "...", "secret": "..."}`` for S3) or a plain string.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from gyre.errors import InsecureSecrets, NotFound, did_you_mean


def secrets_file() -> Path:
    configured = os.environ.get("GYRE_SECRETS_FILE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "gyre" / "secrets.json"


def _load() -> dict[str, Any]:
    path = secrets_file()
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InsecureSecrets(
            f"The secrets file {path} can be read by other users (mode {mode:o}). "
            f"Run: chmod 600 {path}"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _save(data: dict[str, Any]) -> None:
    path = secrets_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".secrets-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def set_secret(name: str, value: str) -> None:
    """Store ``value`` (JSON object text, or a plain string) under ``name``."""
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    data = _load()
    data[name] = parsed
    _save(data)


def get_secret(name: str) -> Any:
    data = _load()
    if name not in data:
        raise NotFound(
            f"No secret named {name!r}.{did_you_mean(name, data)} "
            f"Set it with: gyre secret set {name}"
        )
    return data[name]


def list_secrets() -> list[str]:
    return sorted(_load())


def remove_secret(name: str) -> None:
    data = _load()
    get_secret(name)
    del data[name]
    _save(data)
