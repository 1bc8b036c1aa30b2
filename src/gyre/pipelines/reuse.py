"""Decide whether a step can reuse stored outputs, and say why not when it cannot."""

from __future__ import annotations

from dataclasses import dataclass

from gyre.errors import CorruptBlob
from gyre.pipelines import materializers
from gyre.pipelines.cache_key import CacheKey, explain_change
from gyre.store import runs as run_rows
from gyre.store.blobs import BlobStore
from gyre.store.database import Transaction
from gyre.store.runs import ArtifactRecord, RunRecord


@dataclass(frozen=True)
class ReuseDecision:
    source: RunRecord | None
    """The earlier step run whose outputs are reused; None when the step must run."""
    outputs: list[ArtifactRecord]
    reason: str


def decide(
    conn: Transaction,
    blobs: BlobStore,
    *,
    pipeline: str,
    step: str,
    key: CacheKey,
    reuse_allowed: bool,
) -> ReuseDecision:
    if not reuse_allowed:
        return ReuseDecision(None, [], "reuse is off for this step (reuse=False)")
    missing_note = ""
    for candidate in run_rows.reusable_step_runs(conn, key.digest):
        outputs = run_rows.get_artifacts(conn, candidate.id, role="output")
        missing = _missing_blob(outputs, blobs)
        if missing is None:
            since = candidate.parent_id or candidate.id
            return ReuseDecision(candidate, outputs, f"unchanged since run {since}")
        since = candidate.parent_id or candidate.id
        missing_note = (
            f"outputs of run {since} are gone (blob {missing[:12]} is missing or corrupt), "
            "so it runs again"
        )
    if missing_note:
        return ReuseDecision(None, [], missing_note)
    previous = run_rows.latest_step_run(conn, pipeline, step)
    if previous is None:
        return ReuseDecision(None, [], "never ran before")
    reasons = explain_change(previous.key_parts, key.parts)
    since = previous.parent_id or previous.id
    return ReuseDecision(None, [], f"{'; '.join(reasons)} (since run {since})")


def _missing_blob(outputs: list[ArtifactRecord], blobs: BlobStore) -> str | None:
    for output in outputs:
        try:
            needed = materializers.blobs_of(output.materializer, output.digest, blobs)
        except CorruptBlob:
            return output.digest
        for digest in needed:
            if not blobs.exists(digest):
                return digest
    return None
