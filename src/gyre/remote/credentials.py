"""Tokens ``gyre login`` saved, one per server URL, in a file only this user can read.

``GYRE_TOKEN`` wins over the file (CI jobs set it from their secret store).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from gyre.errors import InsecureSecrets, WorkspaceError

TOKEN_ENV = "GYRE_TOKEN"


def credentials_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gyre" / "credentials.json"


def _read(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InsecureSecrets(
            f"{path} can be read by other users; it holds server tokens. Run: chmod 600 {path}"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WorkspaceError(f"Could not read {path}: {exc}. Remove it and log in again.") from exc
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _key(url: str) -> str:
    return url.rstrip("/")


def token_for(url: str) -> str | None:
    """The token for ``url``: ``GYRE_TOKEN``, else what ``gyre login`` saved for it."""
    return os.environ.get(TOKEN_ENV) or _read(credentials_file()).get(_key(url))


def save(url: str, token: str) -> Path:
    """Remember ``token`` for ``url`` (the file is written 0600, replaced atomically)."""
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    saved = _read(path)
    saved[_key(url)] = token
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(saved, out, indent=2, sort_keys=True)
    os.replace(temp, path)
    return path


def forget(url: str) -> bool:
    path = credentials_file()
    saved = _read(path)
    if _key(url) not in saved:
        return False
    del saved[_key(url)]
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(saved, out, indent=2, sort_keys=True)
    os.replace(temp, path)
    return True
