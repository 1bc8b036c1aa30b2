"""Damage marks: the blobs ``gyre fsck --repair`` found missing or corrupt and could not
repair, with the run, dataset version, model version or pipeline that holds each one.

The marks are replaced as a whole by every repair, so a blob restored since (from a backup,
by re-adding the data) loses its mark on the next ``gyre fsck --repair``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from gyre.store.database import Transaction


@dataclass(frozen=True)
class Mark:
    digest: str
    subject: str  # "run 3840fb5c682a0b84", "dataset products@3", "model seer@2", ...
    what: str
    problem: str  # missing | corrupt
    found_at: float = 0.0


def replace_all(tx: Transaction, marks: Iterable[Mark]) -> int:
    tx.execute("DELETE FROM damage")
    now = time.time()
    unique = {(m.digest, m.subject): m for m in marks}
    tx.executemany(
        "INSERT INTO damage (digest, subject, what, problem, found_at) VALUES (?, ?, ?, ?, ?)",
        [(m.digest, m.subject, m.what[:300], m.problem, now) for m in unique.values()],
    )
    return len(unique)


def of_subjects(tx: Transaction, subjects: list[str]) -> list[Mark]:
    """Marks of some subjects, e.g. ``run 3840fb5c682a0b84`` or ``model seer@2``."""
    if not subjects:
        return []
    marks = ", ".join("?" for _ in subjects)
    return [
        Mark(row["digest"], row["subject"], row["what"], row["problem"], row["found_at"])
        for row in tx.all(
            "SELECT digest, subject, what, problem, found_at FROM damage "
            f"WHERE subject IN ({marks}) ORDER BY subject, what",
            subjects,
        )
    ]


def every(tx: Transaction) -> list[Mark]:
    return [
        Mark(row["digest"], row["subject"], row["what"], row["problem"], row["found_at"])
        for row in tx.all(
            "SELECT digest, subject, what, problem, found_at FROM damage ORDER BY subject, what"
        )
    ]


def corrupt_digests(tx: Transaction) -> set[str]:
    """Blobs marked corrupt: reuse does not hand them on, whatever a cheap check says."""
    return set(tx.scalars("SELECT DISTINCT digest FROM damage WHERE problem = 'corrupt'"))


def describe(mark: Mark) -> str:
    """One line naming the damaged object, the problem, the blob and where to look."""
    return (
        f"{mark.subject}: {mark.what} is {mark.problem} (blob {mark.digest[:12]}); see 'gyre fsck'"
    )


def lines_for(tx: Transaction, subjects: list[str]) -> list[str]:
    """What the last ``gyre fsck --repair`` marked as lost for these subjects, one line each."""
    return [describe(mark) for mark in of_subjects(tx, subjects)]
