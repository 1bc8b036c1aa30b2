"""``gyre fsck``: is everything the workspace recorded still there, with the same bytes?

The walk, in order:

1. every blob a database row names (artifacts, logs, dataset versions, partitions, profiles,
   model versions, published snapshots) and every blob their manifests list is read and
   hashed (``quick``: large local blobs by their size/mtime/inode stamp, object-store blobs
   by existence);
2. the local copies (``cache/dirs``, ``cache/files``, ``cache/tables``, ``snapshots``) are
   compared with what they must hold;
3. rows that point at rows that are gone, blobs nothing references (``gyre gc`` removes
   them) and half-written temporary files are listed.

``repair=True`` then, without ever deleting a blob that something references:

- puts back a missing or corrupt blob from an intact local copy of its bytes (a cached folder
  holds the same files; a folder's manifest is rebuilt from the folder when that gives the
  recorded digest);
- makes damaged or stray local copies again from intact blobs (or drops them: they are a
  cache), and removes stale temporary files and unfinished copies;
- marks what it could not repair (``gyre.store.damage``): ``gyre runs show``, ``gyre model
  show`` and ``gyre data show`` then say so.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gyre.errors import CorruptBlob
from gyre.store import Store, audit, blob_checks, damage, local_copies, references
from gyre.store.blobs import LocalBlobStore, sha256_file
from gyre.store.references import Holder
from gyre.workspace import cache_entries

GRACE_S = 3600.0  # younger blobs and temporaries may belong to a write still under way
WORKERS = 4
SHOWN = 10


@dataclass
class Finding:
    problem: str  # missing | corrupt | dangling | damaged-copy | orphaned | stale
    object: str
    affects: list[str]
    fix: str
    repaired: str | None = None

    @property
    def damage(self) -> bool:
        """Whether it loses or changes something recorded (orphans and leftovers do not)."""
        return self.problem in ("missing", "corrupt", "dangling") and self.repaired is None


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    blobs_checked: int = 0
    bytes_checked: int = 0
    copies_checked: int = 0
    rows_checked: int = 0
    repair: bool = False
    marked: int = 0
    seconds: float = 0.0

    @property
    def damaged(self) -> list[Finding]:
        return [f for f in self.findings if f.damage]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.damaged,
            "blobs_checked": self.blobs_checked,
            "bytes_checked": self.bytes_checked,
            "copies_checked": self.copies_checked,
            "rows_checked": self.rows_checked,
            "repair": self.repair,
            "marked": self.marked,
            "seconds": round(self.seconds, 3),
            "findings": [
                {
                    "problem": f.problem,
                    "object": f.object,
                    "affects": f.affects,
                    "fix": f.fix,
                    "repaired": f.repaired,
                }
                for f in self.findings
            ],
        }


def check(
    store: Store, *, repair: bool = False, quick: bool = False, grace_s: float = GRACE_S
) -> Report:
    started = time.perf_counter()
    walk = _Walk(store, quick=quick)
    report = Report(repair=repair)
    with store.read() as tx:
        holders = references.holders(tx)
        dangling = references.dangling(tx)
    report.rows_checked = len(holders)
    walk.verify_all(holders)
    copies = list(cache_entries.entries(store.settings.local_dir))
    if repair:
        walk.restore_from_copies(copies)
    report.blobs_checked = len(walk.problems)
    report.bytes_checked = walk.bytes_read
    report.findings.extend(walk.blob_findings())
    report.findings.extend(_copy_findings(walk, copies, repair))
    report.copies_checked = len(copies)
    report.findings.extend(_leftover_findings(store, repair, grace_s))
    report.findings.extend(_orphan_findings(walk, grace_s))
    report.findings.extend(
        Finding(
            "dangling",
            f"{d.count} row(s) of {d.table} pointing at {d.points_at}",
            list(d.examples),
            d.fix,
        )
        for d in dangling
    )
    if repair:
        marks = walk.marks()
        with store.write() as tx:
            report.marked = damage.replace_all(tx, marks)
            repaired = sum(f.repaired is not None for f in report.findings)
            audit.append(
                tx,
                audit.default_actor(),
                "fsck.repair",
                "workspace",
                {"repaired": repaired, "marked": report.marked, "damaged": len(report.damaged)},
            )
    report.seconds = time.perf_counter() - started
    return report


class _Walk:
    """Blobs, who holds them and what is wrong with them."""

    def __init__(self, store: Store, *, quick: bool) -> None:
        self.store = store
        self.quick = quick
        self.held: dict[str, list[Holder]] = defaultdict(list)
        self.problems: dict[str, str | None] = {}
        self.listings: dict[str, dict[str, str]] = {}  # manifest -> relative path -> digest
        self.restored: dict[str, str] = {}  # digest -> where its bytes came back from
        self.bytes_read = 0

    def verify_all(self, holders: Iterable[Holder]) -> None:
        manifests: set[str] = set()
        for holder in holders:
            self.held[holder.digest].append(holder)
            if holder.manifest:
                manifests.add(holder.digest)
        self._verify(list(self.held))
        self.expand(manifests)

    def expand(self, manifests: Iterable[str]) -> None:
        """List the blobs intact manifests name (they inherit the manifest's holders) and
        verify those not verified yet."""
        listed: list[str] = []
        for manifest in sorted(manifests):
            if not self.intact(manifest):
                continue
            if manifest not in self.listings:
                self.listings[manifest] = references.listed(self.store.blobs, manifest)
            for rel, digest in self.listings[manifest].items():
                for holder in self.held[manifest]:
                    what = f"{holder.what}: {rel}"
                    self.held[digest].append(
                        Holder(digest, holder.subject, what, False, holder.run_ids)
                    )
                listed.append(digest)
        self._verify([d for d in dict.fromkeys(listed) if d not in self.problems])

    def _verify(self, digests: list[str]) -> None:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for digest, (problem, size) in zip(
                digests, pool.map(self._problem, digests), strict=True
            ):
                self.problems[digest] = problem
                self.bytes_read += size

    def _problem(self, digest: str) -> tuple[str | None, int]:
        """(what is wrong or None, bytes read to find out)."""
        blobs = self.store.blobs
        if self.quick:
            return blob_checks.problem(blobs, digest), 0
        actual = blobs.actual_digest(digest)
        if actual is None:
            return "missing", 0
        size = blobs.path(digest).stat().st_size if isinstance(blobs, LocalBlobStore) else 0
        return (None if actual == digest else "corrupt"), size

    def restore_from_copies(self, copies: list[cache_entries.Entry]) -> None:
        """Put back damaged blobs whose bytes an intact local copy still holds: first the
        manifests a copy can rebuild (then the files they list are verified), then files."""
        rebuilt = [
            entry.digest
            for entry in copies
            if entry.kind in ("dirs", "snapshots")
            and self.problems.get(entry.digest) is not None
            and entry.digest not in self.restored
            and self._rebuild_manifest(entry)
        ]
        self.expand(rebuilt)
        wanted = {d for d, p in self.problems.items() if p is not None} - set(self.restored)
        for entry in copies if wanted else ():
            expected = entry.expected(self.listings.get(entry.digest)) or {}
            for rel, digest in expected.items():
                source = entry.path / rel
                if digest in wanted and digest not in self.restored and source.is_file():
                    try:
                        self.store.blobs.restore(digest, source)
                    except CorruptBlob:
                        continue  # this copy changed too
                    self.restored[digest] = f"restored from {source}"

    def _rebuild_manifest(self, entry: cache_entries.Entry) -> bool:
        files: dict[str, list[Any]] = {}
        for path in sorted(entry.path.rglob("*")):
            rel = path.relative_to(entry.path).as_posix()
            if path.is_file() and not _ignored(entry, rel):
                files[rel] = list(sha256_file(path))
        data = json.dumps({"files": files}, sort_keys=True, separators=(",", ":")).encode()
        if hashlib.sha256(data).hexdigest() != entry.digest:
            return False
        temp = entry.path.parent / f".{entry.digest}.manifest"
        temp.write_bytes(data)
        try:
            self.store.blobs.restore(entry.digest, temp)
        finally:
            temp.unlink(missing_ok=True)
        self.restored[entry.digest] = f"rebuilt from the local copy {entry.path}"
        self.listings[entry.digest] = {rel: d for rel, (d, _size) in files.items()}
        return True

    def blob_findings(self) -> list[Finding]:
        found = []
        for digest, problem in sorted(self.problems.items()):
            if problem is None:
                continue
            holders = self.held[digest]
            fix = _blob_fix(holders)
            if any(h.manifest for h in holders) and digest not in self.restored:
                fix += " (the files it lists cannot be checked while it is damaged)"
            found.append(
                Finding(
                    problem,
                    f"blob {digest} in {self.store.blobs.url}",
                    _affects(holders),
                    fix,
                    self.restored.get(digest),
                )
            )
        return found

    def marks(self) -> list[damage.Mark]:
        return [
            damage.Mark(digest, holder.subject, holder.what, problem)
            for digest, problem in self.problems.items()
            if problem is not None and digest not in self.restored
            for holder in self.held[digest]
        ]

    def intact(self, digest: str) -> bool:
        return self.problems.get(digest, "unknown") is None or digest in self.restored


def _ignored(entry: cache_entries.Entry, rel: str) -> bool:
    """Python writes bytecode next to a snapshot's modules when a run imports them."""
    return entry.kind == "snapshots" and "__pycache__/" in f"{rel}"


def _affects(holders: list[Holder]) -> list[str]:
    seen: dict[str, None] = {}
    for holder in holders:
        seen[f"{holder.subject} ({holder.what})"] = None
        for run_id in holder.run_ids[1:]:
            seen[f"run {run_id}"] = None
    return list(seen)


def _blob_fix(holders: list[Holder]) -> str:
    subjects = {h.subject.split(" ", 1)[0] for h in holders}
    fixes = []
    if "run" in subjects:
        fixes.append("re-run the pipeline: reuse runs the step again instead of handing it on")
    if "dataset" in subjects:
        fixes.append("add the data again ('gyre data add NAME PATH') to get an intact version")
    if "model" in subjects:
        fixes.append("register the model again from a run that re-made it")
    if "pipeline" in subjects:
        fixes.append("publish the pipeline again ('gyre pipeline publish')")
    return "; ".join(fixes) or "restore the blob from a backup of the blob store"


def _copy_findings(walk: _Walk, copies: list[cache_entries.Entry], repair: bool) -> list[Finding]:
    found = []
    for entry in copies:
        listed = walk.listings.get(entry.digest)
        if entry.digest not in walk.held and entry.kind in ("dirs", "snapshots"):
            found.append(_stray_copy(entry, repair))
            continue
        if listed is None and entry.kind in ("dirs", "snapshots"):
            if entry.digest in walk.held and walk.intact(entry.digest):
                continue  # a reference dataset's copy: its files live in the datastore
            found.append(
                _bad_copy(entry, ["its manifest is missing or corrupt"], walk, repair, None)
            )
            continue
        expected = entry.expected(listed)
        assert expected is not None
        if walk.quick and local_copies.unchanged(entry.path):
            continue
        wrong = [
            rel
            for rel in local_copies.changed_files(entry.path, expected)
            if not _ignored(entry, rel)
        ]
        if wrong:
            found.append(_bad_copy(entry, wrong, walk, repair, expected))
    return found


def _stray_copy(entry: cache_entries.Entry, repair: bool) -> Finding:
    return Finding(
        "orphaned",
        f"local copy {entry.path}",
        [],
        "nothing references it any more; 'gyre fsck --repair' removes it",
        _discarded(entry) if repair else None,
    )


def _bad_copy(
    entry: cache_entries.Entry,
    wrong: list[str],
    walk: _Walk,
    repair: bool,
    expected: dict[str, str] | None,
) -> Finding:
    more = f" and {len(wrong) - SHOWN} more" if len(wrong) > SHOWN else ""
    shown = ", ".join(wrong[:SHOWN]) + more
    holders = walk.held.get(entry.digest, [])
    finding = Finding(
        "damaged-copy",
        f"local copy {entry.path} ({shown} differ from what was recorded)",
        _affects(holders),
        "'gyre fsck --repair' makes it again from the blobs (steps and load_model also "
        "replace a changed copy before they use it)",
    )
    if not repair:
        return finding
    finding.repaired = _discarded(entry)
    remakeable = entry.kind in ("dirs", "files", "tables") and expected is not None
    if remakeable and all(walk.intact(d) for d in (expected or {}).values()):
        try:
            local_copies.materialize(entry.path, expected or {}, walk.store.blobs)
            finding.repaired = "made again from intact blobs"
        except CorruptBlob:
            pass
    return finding


def _discarded(entry: cache_entries.Entry) -> str:
    local_copies.discard(entry.path)
    return "removed (it is made again from the blobs when next needed)"


def _leftover_findings(store: Store, repair: bool, grace_s: float) -> list[Finding]:
    found = []
    cutoff = time.time() - grace_s
    for path in cache_entries.leftovers(store.settings.local_dir):
        finding = Finding("stale", f"unfinished local copy {path}", [], "safe to remove")
        if repair:
            if path.is_dir():
                local_copies.discard(path)
            else:
                path.unlink(missing_ok=True)
            finding.repaired = "removed"
        found.append(finding)
    for name, modified in store.blobs.temporaries():
        if modified > cutoff:
            continue
        finding = Finding(
            "stale",
            f"temporary file {name} in {store.blobs.url}",
            [],
            "an interrupted write left it; safe to remove",
        )
        if repair:
            store.blobs.remove_temporary(name)
            finding.repaired = "removed"
        found.append(finding)
    return found


def _orphan_findings(walk: _Walk, grace_s: float) -> list[Finding]:
    blobs = walk.store.blobs
    cutoff = time.time() - grace_s
    orphans = []
    for digest in blobs.digests():
        if digest in walk.held:
            continue
        if isinstance(blobs, LocalBlobStore):
            try:
                if blobs.path(digest).stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue
        orphans.append(digest)
    if not orphans:
        return []
    return [
        Finding(
            "orphaned",
            f"{len(orphans)} blob(s) in {blobs.url} that nothing references",
            [f"blob {d}" for d in sorted(orphans)[:SHOWN]],
            "'gyre gc' removes them",
        )
    ]


def affected_subjects(report: Report) -> list[str]:
    """The runs, datasets, model versions and pipelines that damage touches."""
    subjects: dict[str, None] = {}
    for finding in report.damaged:
        for item in finding.affects:
            subjects[item.split(" (", 1)[0]] = None
    return list(subjects)


def damage_of(store: Store, subjects: list[str]) -> list[str]:
    """What the last ``gyre fsck --repair`` marked as lost for these subjects (``run ID``,
    ``model NAME@N``, ``dataset NAME@N``), one line each."""
    with store.read() as tx:
        return damage.lines_for(tx, subjects)


__all__ = ["Finding", "Report", "affected_subjects", "check", "damage_of"]
