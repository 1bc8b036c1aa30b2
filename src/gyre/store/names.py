"""Name rules shared by datasets, models, compute targets and datastores."""

from __future__ import annotations

import re

from gyre.errors import InvalidParameter

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
ALIAS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")


def check_name(name: str, what: str = "dataset") -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidParameter(
            f"{what.capitalize()} name {name!r} is not allowed: use letters, digits, '.', '_' "
            "and '-', starting with a letter or digit (e.g. products or seer-inference)."
        )
    return name


def check_alias(alias: str, examples: str = "baseline, production") -> str:
    """An alias is a word that starts with a letter; ``latest`` and numbers are taken (they
    already mean the newest and a numbered version)."""
    if not ALIAS_PATTERN.match(alias) or alias == "latest":
        raise InvalidParameter(
            f"Alias {alias!r} is not allowed: a word of letters, digits, '_' and '-' that starts "
            f"with a letter, other than 'latest' (e.g. {examples})."
        )
    return alias
