"""``NAME@N``, ``NAME@ALIAS`` and ``NAME@latest``: one grammar for datasets and models."""

from __future__ import annotations

from dataclasses import dataclass

from gyre.errors import NotFound, did_you_mean
from gyre.store.database import Transaction


@dataclass(frozen=True)
class VersionedTables:
    """Where a kind of versioned thing keeps its versions and aliases (fixed names, not input)."""

    noun: str  # "Dataset" or "Model", for messages
    versions: str
    aliases: str
    key: str  # the column naming the thing in both tables


DATASETS = VersionedTables("Dataset", "dataset_versions", "dataset_aliases", "dataset")
MODELS = VersionedTables("Model", "model_versions", "model_aliases", "name")


def resolve(tx: Transaction, tables: VersionedTables, name: str, ref: int | str | None) -> int:
    """The version number ``ref`` names: a number, an alias, ``latest`` or None (latest).

    The caller has checked that ``name`` exists.
    """
    where = f"{tables.key} = ?"
    if ref is None or ref == "latest":
        version = tx.scalar(f"SELECT max(version) FROM {tables.versions} WHERE {where}", [name])
        if version is None:
            raise NotFound(f"{tables.noun} {name!r} has no versions yet.")
        return int(version)
    if isinstance(ref, int) or (str(ref).isascii() and str(ref).isdigit()):
        number = int(ref)
        found = tx.scalar(
            f"SELECT version FROM {tables.versions} WHERE {where} AND version = ?", [name, number]
        )
        if found is None:
            have = tx.scalars(
                f"SELECT version FROM {tables.versions} WHERE {where} ORDER BY version", [name]
            )
            raise NotFound(
                f"{tables.noun} {name!r} has no version {number}; it has "
                f"{', '.join(str(v) for v in have) or 'none'}."
            )
        return number
    version = tx.scalar(
        f"SELECT version FROM {tables.aliases} WHERE {where} AND alias = ?", [name, str(ref)]
    )
    if version is None:
        aliases = tx.scalars(f"SELECT alias FROM {tables.aliases} WHERE {where}", [name])
        raise NotFound(
            f"{tables.noun} {name!r} has no version or alias {ref!r}."
            f"{did_you_mean(str(ref), aliases)} Aliases: {', '.join(['latest', *sorted(aliases)])}."
        )
    return int(version)
