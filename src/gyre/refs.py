"""``NAME@REF``: how a user names a version of a dataset or a model.

``REF`` is a version number, an alias (``production``, ``baseline``) or ``latest``; no
``@REF`` means the latest version. One grammar for datasets and models, parsed here only.
"""

from __future__ import annotations


def parse_ref(text: str) -> tuple[str, str | None]:
    """``products@3`` -> ("products", "3"); ``seer@production`` -> ("seer", "production");
    ``products`` -> ("products", None)."""
    name, sep, ref = text.partition("@")
    return name, (ref if sep else None)
