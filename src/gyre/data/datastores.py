"""Add a datastore: the one way in for ``gyre datastore add`` and Python callers alike.

The rules live here, so no caller can skip them: the URL must be one fsspec can open (a known
scheme, ``scheme://`` with a host or bucket for remote stores, a local folder that exists),
the location must answer (unless ``check=False``), and nothing that looks like a credential is
stored in the metadata database (credentials go in a secret).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gyre.data.filesystems import (
    access_error,
    check_url,
    is_access_error,
    is_network_error,
    network_error,
    open_fs,
    protocol_of,
)
from gyre.errors import InvalidParameter
from gyre.store import Store, audit
from gyre.store import datastores as datastore_rows
from gyre.store.datastores import DatastoreRecord

CREDENTIAL_WORDS = ("secret", "password", "token", "key", "credential")
LOCAL = ("file", "local")
_SCHEME_WITHOUT_SLASHES = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+):/?(?!/)")


def add_datastore(
    store: Store,
    name: str,
    url: str,
    *,
    secret: str | None = None,
    options: dict[str, Any] | None = None,
    by_reference: bool = False,
    check: bool = True,
) -> DatastoreRecord:
    """Register ``url`` as datastore ``name``.

    Raises:
        InvalidParameter: the URL is malformed, the folder does not exist, or an option looks
            like a credential.
        GyreError: the location cannot be reached (network) or refuses access (credentials);
            the message names the URL. ``check=False`` skips reaching it.
    """
    options = dict(options or {})
    check_location(url)
    refuse_credentials(options)
    if secret:
        from gyre.data.secrets import get_secret

        options_for_check = {**options, **_secret_options(get_secret(secret), secret)}
    else:
        options_for_check = options
    if check:
        reach(url, options_for_check, name)
    with store.write() as tx:
        record = datastore_rows.add_datastore(
            tx, name, url, secret=secret, options=options, by_reference=by_reference
        )
        detail = {"url": url, "secret": secret, "by_reference": by_reference}
        audit.append(tx, audit.default_actor(), "datastore.add", f"datastore {name}", detail)
        return record


def list_datastores(store: Store) -> list[DatastoreRecord]:
    with store.read() as tx:
        return datastore_rows.list_datastores(tx)


def get_datastore(store: Store, name: str) -> DatastoreRecord:
    with store.read() as tx:
        return datastore_rows.get_datastore(tx, name)


def remove_datastore(store: Store, name: str) -> None:
    with store.write() as tx:
        datastore_rows.remove_datastore(tx, name)
        audit.append(tx, audit.default_actor(), "datastore.remove", f"datastore {name}")


def check_location(url: str) -> None:
    """Refuse a URL that cannot name a location: ``s3:/bucket`` (one slash), a remote scheme
    without a host or bucket, an empty path, or a local folder that does not exist."""
    if not url.strip():
        raise InvalidParameter(
            "The location is empty. Give a folder or a URL such as s3://bucket/path."
        )
    malformed = _SCHEME_WITHOUT_SLASHES.match(url)
    if malformed and len(malformed.group(1)) > 1 and "://" not in url:  # not C:\ on Windows
        scheme = malformed.group(1)
        raise InvalidParameter(
            f"URL {url!r} has {scheme}: but not {scheme}://. Write it as "
            f"{scheme}://{url[len(scheme) + 1 :].lstrip('/')}."
        )
    check_url(url)
    protocol = protocol_of(url)
    if protocol in LOCAL:
        path = Path(url.split("://", 1)[-1]).expanduser()
        if not path.is_dir():
            what = "is a file, not a folder" if path.exists() else "does not exist"
            raise InvalidParameter(f"Local folder {path} {what}. Give an existing folder.")
        return
    if not urlparse(url).netloc:
        raise InvalidParameter(
            f"URL {url!r} names no host or bucket. Write it as {protocol}://BUCKET/path."
        )


def refuse_credentials(options: dict[str, Any]) -> None:
    for key in options:
        if any(word in key.lower() for word in CREDENTIAL_WORDS):
            raise InvalidParameter(
                f"Option {key!r} looks like a credential: keep it in a secret (gyre secret set "
                "NAME) and pass it as the datastore's secret, so it is never stored in the "
                "metadata database.",
                field=key,
            )


def reach(url: str, options: dict[str, Any], datastore: str | None = None) -> None:
    """Fail now, naming the URL and the cause, if the location does not answer."""
    fs, path = open_fs(url, options)
    try:
        found = fs.exists(path)
    except Exception as exc:  # each filesystem library raises its own errors
        if is_network_error(exc):
            raise network_error(url, exc) from exc
        if is_access_error(exc):
            raise access_error(url, exc, datastore) from exc
        raise access_error(url, exc, datastore) from exc
    if not found:
        raise InvalidParameter(
            f"{url} does not exist (the store answered, but there is nothing at that path). "
            "Check the bucket and path, or pass --no-check to add it before it exists."
        )


def _secret_options(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise InvalidParameter(
        f"Secret {name!r} must be a JSON object of storage options, e.g. "
        '{"key": "...", "secret": "..."}.'
    )
