"""Journal records the converter cannot write, kept beside the journal with the reason.

One JSON line per record in ``quarantine.jsonl`` in the endpoint's journal folder: its place
in the journal (``key``: segment, byte range and record), when it was quarantined, why, how
many scored rows it holds, the request's id, model, version and time when they can be read,
and the record itself (its JSON line as text, or a compact record in base64), so that nothing
the server answered is lost. A record quarantined again (a pass that crashed before saving its
progress) is listed once. ``gyre data quarantine ENDPOINT-inference`` lists them.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter, NotFound
from gyre.serving.journal import Records, compact_record
from gyre.store import Store

FILE_NAME = "quarantine.jsonl"
SUFFIX = "-inference"


@dataclass(frozen=True)
class QuarantinedRecord:
    key: str
    quarantined_at: float
    reason: str
    rows: int
    request_id: str | None
    model: str | None
    version: int | None
    timestamp: float | None
    encoding: str  # "json": ``record`` is the journal line; "base64": a compact record
    record: str


def entry(key: str, records: Records, reason: str) -> dict[str, Any]:
    """The quarantine entry of the one record in ``records``."""
    if records.compact:
        head, x, y = records.compact[0]
        raw = compact_record(head, bytes(x), bytes(y))
        fields, encoding, text = _fields(head), "base64", base64.b64encode(raw).decode()
    else:
        line = records.json_lines[0]
        fields, encoding = _fields(line), "json"
        text = line.decode("utf-8", errors="replace")
    inputs = fields.get("inputs")
    rows = fields.get("rows")
    count = len(inputs) if isinstance(inputs, list) else rows if isinstance(rows, int) else 1
    return {
        "key": key,
        "quarantined_at": round(time.time(), 3),
        "reason": reason,
        "rows": max(count, 1),
        "request_id": _typed(fields.get("request_id"), str),
        "model": _typed(fields.get("model"), str),
        "version": _typed(fields.get("version"), int),
        "timestamp": _typed(fields.get("timestamp"), float),
        "encoding": encoding,
        "record": text,
    }


def _fields(data: bytes) -> dict[str, Any]:
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return found if isinstance(found, dict) else {}


def _typed(value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def add(folder: Path, entries: list[dict[str, Any]]) -> None:
    """Append entries in one write, synced before the converter saves its progress."""
    data = b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in entries)
    fd = os.open(folder / FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read(folder: Path) -> list[QuarantinedRecord]:
    """The entries in ``folder``, oldest first, each record once."""
    path = folder / FILE_NAME
    if not path.exists():
        return []
    found: dict[str, QuarantinedRecord] = {}
    for line in path.read_bytes().splitlines():
        try:
            record = QuarantinedRecord(**json.loads(line))
        except (ValueError, TypeError):  # a line cut by a crash while it was written
            continue
        found.setdefault(record.key, record)
    return list(found.values())


def of_dataset(store: Store, dataset: str) -> list[QuarantinedRecord]:
    """The quarantined records of an inference dataset (``ENDPOINT-inference``).

    Raises:
        InvalidParameter: ``dataset`` is not named like an inference dataset.
        NotFound: no server of that endpoint has collected anything in this workspace.
    """
    from gyre.serving.collector import journal_folder
    from gyre.store import datasets as rows

    endpoint = dataset.removesuffix(SUFFIX)
    if endpoint == dataset or not endpoint:
        raise InvalidParameter(
            f"{dataset!r} is not an inference dataset: quarantined rows belong to the datasets "
            f"the data collector writes, named ENDPOINT{SUFFIX} (e.g. {dataset}{SUFFIX})."
        )
    folder = journal_folder(store, endpoint, create=False)
    if folder.is_dir():
        return read(folder)
    with store.read() as tx:
        known = [d["name"] for d in rows.list_datasets(tx) if d["name"].endswith(SUFFIX)]
    if dataset in known:  # journaled on another machine of a shared workspace: none here
        return []
    listed = ", ".join(known) if known else "none yet"
    raise NotFound(
        f"No server has collected rows for {dataset!r} in this workspace (inference datasets "
        f"here: {listed}). Serve a model with collection on (gyre serve NAME@VERSION "
        f"--endpoint {endpoint}) to create it."
    )
