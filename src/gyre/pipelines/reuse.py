"""Decide whether a step can reuse stored outputs, and say why not when it cannot."""

from __future__ import annotations

from dataclasses import dataclass

from gyre.errors import CorruptBlob
from gyre.pipelines import materializers
from gyre.pipelines.cache_key import CacheKey, explain_change
from gyre.pipelines.dsl import Node
from gyre.store import blob_checks, damage
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
    tx: Transaction,
    blobs: BlobStore,
    *,
    pipeline: str,
    step: str,
    key: CacheKey,
    reuse_allowed: bool,
    remove_corrupt: bool = False,
    param_sources: dict[str, str] | None = None,
) -> ReuseDecision:
    """Reuse an earlier run of the step with the same cache key whose outputs are all there
    and intact, or say why the step runs. ``remove_corrupt`` (a run, not a plan) deletes a
    blob whose bytes no longer match its digest, so the step that runs again can store it."""
    if not reuse_allowed:
        return ReuseDecision(None, [], "reuse is off for this step (reuse=False)")
    missing_note = ""
    marked: set[str] | None = None
    for candidate in run_rows.reusable_step_runs(tx, key.digest):
        outputs = run_rows.get_artifacts(tx, candidate.id, role="output")
        if marked is None:
            marked = damage.corrupt_digests(tx)
        found = _damaged_output(outputs, blobs, remove_corrupt, marked)
        since = candidate.parent_id or candidate.id
        if found is None:
            return ReuseDecision(candidate, outputs, f"unchanged since run {since}")
        name, digest, problem = found
        missing_note = (
            f"output {name!r} of {step} (run {since}) is {problem} (blob {digest[:12]}), "
            "so it runs again"
        )
    if missing_note:
        return ReuseDecision(None, [], missing_note)
    previous = run_rows.latest_step_run(tx, pipeline, step)
    if previous is None:
        return ReuseDecision(None, [], "never ran before")
    reasons = explain_change(previous.key_parts, key.parts, param_sources)
    since = previous.parent_id or previous.id
    return ReuseDecision(None, [], f"{'; '.join(reasons)} (since run {since})")


def _damaged_output(
    outputs: list[ArtifactRecord], blobs: BlobStore, remove_corrupt: bool, marked: set[str]
) -> tuple[str, str, str] | None:
    """(output name, blob digest, "missing" | "corrupt") of the first output whose bytes are
    not all there and intact; None when every blob it would hand on is verified. ``marked``:
    blobs ``gyre fsck`` found corrupt (an object store blob is otherwise only checked for
    existence here, while an overwritten object is caught when it is read)."""
    for output in outputs:
        try:
            needed = materializers.blobs_of(output.materializer, output.digest, blobs)
        except CorruptBlob as exc:
            return output.name, output.digest, "missing" if "missing" in str(exc) else "corrupt"
        for digest in needed:
            problem = "corrupt" if digest in marked else blob_checks.problem(blobs, digest)
            if problem == "corrupt" and remove_corrupt:
                # Bytes that no longer match their address are of no use to anyone; removed,
                # the step that runs again stores the right ones under the same digest.
                blobs.delete(digest)
            if problem is not None:
                return output.name, digest, problem
    return None


def by_output(node: Node, artifacts: list[ArtifactRecord]) -> dict[str, ArtifactRecord]:
    """A step's output artifacts by the output names its downstream steps use. A step with
    one undeclared output may name its artifact through ``gyre.output_dir("model")``: the
    artifact is then called ``model`` and still wired as the step's ``output``."""
    found = {a.name: a for a in artifacts}
    names = node.options.outputs
    if len(names) == 1 and names[0] not in found and len(artifacts) == 1:
        return {names[0]: artifacts[0]}
    return found
