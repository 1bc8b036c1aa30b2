"""Files a client sends to the workspace through the team server, by content: the client asks
which of its files' digests the artifact store lacks, sends only those, and the server keeps
a file only when its bytes have the digest it was sent under (nothing half-written is kept)."""

from __future__ import annotations

import re
from pathlib import Path

from gyre.errors import InvalidParameter
from gyre.store import Store

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def missing(store: Store, digests: list[str]) -> list[str]:
    """The digests the artifact store does not have."""
    for digest in digests:
        _check(digest)
    return [d for d in dict.fromkeys(digests) if not store.blobs.exists(d)]


def receive(store: Store, digest: str, path: Path) -> int:
    """Keep the file at ``path`` as blob ``digest``; returns its size.

    Raises:
        InvalidParameter: its bytes have another digest (nothing is kept then)."""
    _check(digest)
    from gyre.store.blobs import sha256_file

    actual, size = sha256_file(path)
    if actual != digest:
        raise InvalidParameter(
            f"The upload's bytes have the digest {actual[:12]}, not {digest[:12]}: it was "
            "changed or cut short on the way; nothing was kept. Send it again.",
            field="body",
        )
    store.blobs.put_file(path)
    return size


def _check(digest: str) -> None:
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise InvalidParameter(
            f"{digest!r} is not a SHA-256 digest (64 lowercase hex characters).", field="digest"
        )
