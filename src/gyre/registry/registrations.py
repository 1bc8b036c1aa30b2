"""Which run registered which model version, and what a reused registration step carries over.

A pipeline step that registers a model and is later reused did not run again, so it made no
version. The versions its source run registered stand for it instead: they are linked to the
reusing run and get its tags, as a fresh registration of the same content would.
"""

from __future__ import annotations

from gyre.store import models as rows
from gyre.store.database import Transaction


def carry_registrations(
    tx: Transaction, source_run_id: str, run_id: str, run_tags: dict[str, str]
) -> None:
    """Link the model versions ``source_run_id`` registered to ``run_id`` and add its tags.

    A tag the version already has with another value gets this value appended
    (``build=3`` met by build 4 becomes ``build=3,4``); no second version is made.
    """
    for name, version in rows.registered_by(tx, source_run_id):
        current = rows.get_version(tx, name, version).tags
        merged = {
            key: value
            if not current.get(key) or value in current[key].split(",")
            else f"{current[key]},{value}"
            for key, value in run_tags.items()
        }
        rows.set_tags(tx, name, version, merged)
        rows.record_registration(tx, run_id, name, version)
