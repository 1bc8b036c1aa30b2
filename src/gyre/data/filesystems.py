"""Open fsspec filesystems for URLs and datastores, with credentials resolved at use."""

from __future__ import annotations

from typing import Any

from gyre.errors import (
    AccessDenied,
    GyreError,
    InvalidParameter,
    MissingExtra,
    ReadFailed,
    Unreachable,
)
from gyre.store.datastores import DatastoreRecord

_EXTRA_FOR = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}


def protocol_of(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "file"


def check_url(url: str) -> None:
    """Refuse URLs whose scheme fsspec does not know, naming the ones it does."""
    import fsspec

    protocol = protocol_of(url)
    known = set(fsspec.available_protocols())
    if protocol not in known:
        common = "file, s3, gs, az, https"
        raise InvalidParameter(
            f"URL {url!r} has the unknown scheme {protocol!r}. Use a local path or one of "
            f"{common} (any fsspec protocol)."
        )


def open_fs(url: str, options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(filesystem, path inside it) for ``url``."""
    import fsspec

    check_url(url)
    protocol = protocol_of(url)
    try:
        fs, path = fsspec.core.url_to_fs(url, **(options or {}))
        return fs, str(path)
    except ImportError as exc:
        package = _EXTRA_FOR.get(protocol, protocol)
        raise MissingExtra(package, "data", f"Reading {protocol}:// URLs") from exc


def datastore_options(store: DatastoreRecord) -> dict[str, Any]:
    """The datastore's fsspec options with its secret merged in (never persisted merged)."""
    from gyre.data.secrets import get_secret

    options = dict(store.options)
    if store.secret:
        secret = get_secret(store.secret)
        if not isinstance(secret, dict):
            raise InvalidParameter(
                f"Secret {store.secret!r} of datastore {store.name!r} must be a JSON object of "
                'storage options, e.g. {"key": "...", "secret": "..."}: set it again with '
                f"gyre secret set {store.secret}.",
                field="secret",
            )
        options.update(secret)
    return options


_ACCESS_ERRORS = (
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
)


def is_access_error(exc: BaseException) -> bool:
    """Missing or refused credentials, whichever library raised it (botocore, gcsfs, adlfs)."""
    names = {type(c).__name__ for c in (exc, exc.__cause__, exc.__context__) if c is not None}
    text = str(exc)
    return (
        isinstance(exc, PermissionError)
        or bool(names & set(_ACCESS_ERRORS))
        or any(word in text for word in _ACCESS_ERRORS)
    )


def access_error(url: str, exc: Exception, datastore: str | None) -> GyreError:
    """A clear error for a failed listing or read: credentials, or what else went wrong."""
    if is_access_error(exc):
        return credential_error(url, exc, datastore)
    if is_network_error(exc):
        return network_error(url, exc)
    return ReadFailed(
        f"Could not read {url}: {type(exc).__name__}: {exc}. Check that the path exists and "
        "is what you meant ('gyre datastore show NAME' shows a datastore's URL)."
    )


def credential_error(url: str, exc: Exception, datastore: str | None) -> AccessDenied:
    hint = (
        f"Set credentials for datastore {datastore!r} with 'gyre secret set NAME' and "
        f"'gyre datastore add {datastore} URL --secret NAME'"
        if datastore
        else "Give credentials through the environment (e.g. AWS_ACCESS_KEY_ID) or a datastore "
        "with a secret ('gyre datastore add NAME URL --secret NAME')"
    )
    return AccessDenied(f"Access to {url} was refused ({type(exc).__name__}: {exc}). {hint}.")


_NETWORK_ERRORS = (
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ClientConnectorError",
    "ServerTimeoutError",
    "gaierror",
    "TimeoutError",
)


def is_network_error(exc: BaseException) -> bool:
    """The location did not answer (refused, timed out, unknown host), whichever library."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    names = {cls.__name__ for error in seen for cls in type(error).__mro__}
    return bool(names & set(_NETWORK_ERRORS))


def network_error(url: str, exc: BaseException) -> Unreachable:
    return Unreachable(
        f"Could not reach {url}: {type(exc).__name__}: {exc}. Check the address (and "
        "endpoint_url) and that the service is up; this is a network error, not an empty store."
    )
