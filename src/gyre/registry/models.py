"""Register, find, alias, load and delete model versions (the capability behind ``gyre model``)."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre import actors
from gyre.errors import CorruptBlob, GyreError, InvalidParameter, ModelLoadFailed, NotFound
from gyre.refs import parse_ref
from gyre.registry import signature as signatures
from gyre.registry.flavors import detect, flavor_module
from gyre.store import Store, audit, dataset_uses, jobs
from gyre.store import models as rows
from gyre.store import runs as run_rows
from gyre.store.database import Transaction
from gyre.store.models import ModelVersionRecord as ModelVersionRecord
from gyre.tracking.current_store import current_store

MANIFEST = "gyre-model.json"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
REGISTERED_EVENT = "model.registered"
log = logging.getLogger("gyre.registry")


def _refuse_pickles(folder: Path, trusted: bool) -> None:
    if trusted:
        return
    found = sorted(p.name for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if found:
        raise InvalidParameter(
            f"{folder} holds pickle files ({', '.join(found[:3])}): loading a pickle from "
            "outside the workspace runs whatever code it contains. Save the model with its "
            "flavor (skops for scikit-learn, TorchScript, ONNX), or pass trusted=True "
            "(--trusted) if you trust where it came from."
        )


def _lineage(store: Store, run_id: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """(lineage columns, the run's tags) for a registration made inside ``run_id``."""
    if not run_id:
        return {}, {}
    with store.read() as tx:
        run = run_rows.get(tx, run_id)
        top = run_rows.get(tx, run.parent_id) if run.parent_id else run
        ids = [top.id, *(c.id for c in run_rows.children(tx, top.id))]
        used = dataset_uses.uses_of_run(tx, ids)
        run_tags = {**run_rows.get_tags(tx, top.id), **run_rows.get_tags(tx, run.id)}
    datasets = sorted({f"{u['dataset']}@{u['version']}" for u in used if u["direction"] == "read"})
    return {
        "run_id": run.id,
        "pipeline_run_id": top.id if top.kind == "pipeline" else None,
        "pipeline": top.name if top.kind == "pipeline" else None,
        "git_commit": run.git_commit or top.git_commit,
        "datasets": datasets,
    }, run_tags


def register_model(
    name: str,
    model: Any,
    *,
    flavor: str | None = None,
    signature: dict[str, Any] | None = None,
    input_example: Any = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
    entry: str | None = None,
    trusted: bool = False,
    store: Store | None = None,
) -> ModelVersionRecord:
    """Register a model version; the same content under the same name returns that version.

    Args:
        name: the model's name, e.g. ``"seer"``.
        model: a folder or file (``.onnx``, ``.skops``, ``.pt``) or an in-memory model
            (scikit-learn estimator, torch module).
        flavor: python, sklearn, torch or onnx (inferred when not given).
        signature: ``{"inputs": [{"name", "type", "shape"?}], "outputs": [...]}``; inferred
            from ``input_example`` when not given.
        metrics, tags, description: recorded with the version. The tags of the run that
            registers (e.g. ``build=1.42``) are added too; tags may change later, content never.
        entry: for the python flavor, the scoring module (default ``score.py``) or
            ``module:Class``.
        trusted: accept pickle files in a registered folder.

    Returns:
        The version record. The same content under the same name, or a second registration of
        the name from the same run (a retried step), returns the existing version with the new
        tags added. Registering emits a ``model.registered`` event, once per version.
    """
    from gyre import config
    from gyre.store.names import check_name

    check_name(name, "model")
    server = config.server_url() if store is None else None
    if server is None:
        store = current_store(store)
    signature = _checked_signature(signature, input_example)
    if flavor is None:
        flavor = _flavor_of(model)
    module = flavor_module(flavor)
    with tempfile.TemporaryDirectory(prefix="gyre-model-") as staging:
        folder = Path(staging) / "model"
        signature = _prepare_folder(
            folder,
            model,
            flavor,
            module,
            signature=signature,
            input_example=input_example,
            entry=entry,
            trusted=trusted,
        )
        if server is not None:
            from gyre.registry.remote_registration import register_through

            return register_through(
                server,
                name,
                folder,
                metrics=metrics,
                tags=tags,
                description=description,
                trusted=trusted,
            )
        assert store is not None
        digest = _store_files(store, folder, name)
    return _record_version(
        store,
        name,
        digest,
        flavor=flavor,
        signature=signature,
        metrics=metrics,
        description=description,
        tags=tags,
    )


# -- 1. flavor and signature ---------------------------------------------------------------


def _checked_signature(
    signature: dict[str, Any] | None, input_example: Any
) -> dict[str, Any] | None:
    """The signature given (the example must fit it), else the one the example implies."""
    if signature is None and input_example is not None:
        signature = signatures.infer(input_example)
    elif signature is not None and input_example is not None:
        signatures.check_example(signatures.check(signature), input_example)
    if signature is not None:
        signatures.check(signature)
    return signature


def _flavor_of(model: Any) -> str:
    """A path's flavor from its suffix or manifest; an in-memory model's from its class."""
    return _flavor_of_path(Path(model)) if isinstance(model, str | Path) else detect(model)


def register_files(
    store: Store,
    name: str,
    files: dict[str, list[Any]],
    *,
    run_id: str | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
    trusted: bool = False,
) -> ModelVersionRecord:
    """Register a version from files already in the artifact store (a client sent them
    through the team server): its ``gyre-model.json`` says the flavor and the signature,
    as ``register_model`` wrote it on the client."""
    from gyre.store.folders import folder_of_blobs
    from gyre.store.names import check_name

    check_name(name, "model")
    where = f"register_model({name!r})"
    if MANIFEST not in files:
        raise InvalidParameter(
            f"{where}: the files hold no {MANIFEST}; register with gyre.register_model, which "
            "writes it.",
            field="files",
        )
    pickles = sorted(rel for rel in files if Path(rel).suffix.lower() in PICKLE_SUFFIXES)
    if pickles and not trusted:
        raise InvalidParameter(
            f"{where}: the files hold pickles ({', '.join(pickles[:3])}); loading one runs "
            "whatever code it holds. Save the model with its flavor, or pass trusted=True.",
            field="trusted",
        )
    folder = folder_of_blobs(store.blobs, files, where=where)
    try:
        manifest = json.loads(store.blobs.read_bytes(files[MANIFEST][0]))
        flavor = str(manifest["flavor"])
    except (ValueError, KeyError, TypeError):
        raise InvalidParameter(f"{where}: {MANIFEST} is not a model manifest.") from None
    flavor_module(flavor)
    signature = manifest.get("signature")
    if signature is not None:
        signatures.check(signature)
    if run_id is not None:
        with store.read() as tx:
            run_rows.get(tx, run_id)
    return _record_version(
        store,
        name,
        folder.digest,
        flavor=flavor,
        signature=signature,
        metrics=metrics,
        description=description,
        tags=tags,
        run_id=run_id,
    )


# -- 2. the folder -------------------------------------------------------------------------


def _prepare_folder(
    folder: Path,
    model: Any,
    flavor: str,
    module: Any,
    *,
    signature: dict[str, Any] | None,
    input_example: Any,
    entry: str | None,
    trusted: bool,
) -> dict[str, Any] | None:
    """Write the model's files and manifest to ``folder``; returns the signature, with the
    outputs the model predicts for its example added when they were not given."""
    if isinstance(model, str | Path):
        _check_source(Path(model), trusted)
    meta = _save(folder, model, flavor, module, input_example=input_example, entry=entry)
    manifest = {"flavor": flavor, "signature": signature, "trusted": trusted, **meta}
    if signature is not None and "outputs" not in signature and input_example is not None:
        signature = manifest["signature"] = _with_outputs(module, folder, manifest, input_example)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return signature


def _check_source(source: Path, trusted: bool) -> None:
    """A registered path exists and, unless trusted, holds no pickle files."""
    if not source.exists():
        raise InvalidParameter(f"{source} does not exist. Give the model's folder or file.")
    if source.is_dir():
        _refuse_pickles(source, trusted)
    elif source.suffix.lower() in PICKLE_SUFFIXES and not trusted:
        _refuse_pickles(source.parent, trusted)


def _save(
    folder: Path,
    model: Any,
    flavor: str,
    module: Any,
    *,
    input_example: Any,
    entry: str | None,
) -> dict[str, Any]:
    """The model's files in ``folder``; returns what the manifest records about them.

    A model file of a file flavor (``.onnx``, ``.skops``, ``.pt``) is copied as it is; an
    in-memory model or a folder is saved by its flavor."""
    if isinstance(model, str | Path) and flavor != "python" and Path(model).is_file():
        folder.mkdir()
        target = getattr(module, "FILE", Path(model).name)
        shutil.copy(model, folder / target)
        return {"file": target}
    if flavor == "python":
        meta: dict[str, Any] = module.save(model, folder, entry=entry)
    else:
        meta = module.save(model, folder, example=input_example)
    return meta


# -- 3. the files --------------------------------------------------------------------------


def _store_files(store: Store, folder: Path, name: str) -> str:
    """Store the folder's files in the blob store; returns the folder's digest."""
    from gyre.store.folders import store_folder

    return store_folder(folder, store.blobs, where=f"register_model({name!r})").digest


# -- 4. the version and its lineage --------------------------------------------------------


def _record_version(
    store: Store,
    name: str,
    digest: str,
    *,
    flavor: str,
    signature: dict[str, Any] | None,
    metrics: dict[str, float] | None,
    description: str | None,
    tags: dict[str, str] | None,
    run_id: str | None = None,
) -> ModelVersionRecord:
    """The version of ``name`` with this content: the one that has it (or that this run
    registered already), else a new one with the lineage of the run that registers it (the
    run active here, unless a client named its own)."""
    from gyre.tracking.active_run import active_run_id

    run_id = run_id or active_run_id()
    lineage, run_tags = _lineage(store, run_id)
    tags = {**run_tags, **(tags or {})}  # the run's tags (its build number) mark the model too
    with store.write() as tx:
        existing = _registered_already(tx, name, digest, run_id)
        if existing is not None:
            _tag_and_link(tx, name, existing.version, tags, run_id)
            return rows.get_version(tx, name, existing.version)
        version = rows.add_version(
            tx,
            name=name,
            digest=digest,
            flavor=flavor,
            signature=signature,
            metrics=metrics,
            description=description,
            created_by=actors.user_name(),
            **lineage,
        ).version
        _tag_and_link(tx, name, version, tags, run_id)
        _emit_registered(tx, name, version, run_id, digest)
        return rows.get_version(tx, name, version)


def _registered_already(
    tx: Transaction, name: str, digest: str, run_id: str | None
) -> ModelVersionRecord | None:
    """The version of ``name`` with this content, or the one this run registered already."""
    existing = rows.find_by_digest(tx, name, digest)
    if existing is None and run_id:
        # A retried step may rebuild a model whose bytes differ (zip timestamps, training
        # noise): one run registers one version of a name, however often it tries.
        mine = [v for n, v in rows.registered_by(tx, run_id) if n == name]
        existing = rows.get_version(tx, name, mine[0]) if mine else None
    return existing


def _tag_and_link(
    tx: Transaction, name: str, version: int, tags: dict[str, str], run_id: str | None
) -> None:
    """Add the tags to the version and link it to the run that registers it."""
    rows.set_tags(tx, name, version, tags)
    if run_id:
        rows.record_registration(tx, run_id, name, version)


# -- 5. the event --------------------------------------------------------------------------


def _emit_registered(
    tx: Transaction, name: str, version: int, run_id: str | None, digest: str
) -> None:
    """Queue the ``model.registered`` event, once per version (in the registering transaction)."""
    jobs.enqueue(
        tx,
        REGISTERED_EVENT,
        {"model": name, "version": version, "run_id": run_id, "digest": digest},
        idempotency_key=f"{REGISTERED_EVENT}:{name}@{version}",
    )


def _with_outputs(
    module: Any, folder: Path, manifest: dict[str, Any], example: Any
) -> dict[str, Any]:
    """The signature with the outputs the saved model predicts for its example (what the OIP
    metadata advertises); unchanged when the model cannot predict it here."""
    signature: dict[str, Any] = manifest["signature"]
    if manifest["flavor"] == "python":
        return signature
    try:
        predictions = module.load(folder, manifest).predict(signatures.example_rows(example))
    except Exception as exc:  # the user's own model and example: recorded without outputs
        log.warning("could not predict the input example to record outputs: %s", exc)
        return signature
    return {**signature, "outputs": signatures.outputs_of(predictions)}


def _flavor_of_path(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".skops":
        return "sklearn"
    if suffix in (".pt", ".pth"):
        return "torch"
    if path.is_dir() and (path / MANIFEST).exists():
        return str(json.loads((path / MANIFEST).read_text())["flavor"])
    return "python"


def get(store: Store, reference: str) -> ModelVersionRecord:
    name, ref = parse_ref(reference)
    with store.read() as tx:
        return rows.get_version(tx, name, ref)


@dataclass
class LoadedModel:
    """A model version ready to predict: its record, files, signature and predictor."""

    record: ModelVersionRecord
    path: Path
    manifest: dict[str, Any]
    predictor: Any

    @property
    def signature(self) -> dict[str, Any] | None:
        return self.manifest.get("signature")

    def predict(self, batch: Any) -> Any:
        return self.predictor.predict(batch)


def load_model(reference: str, store: Store | None = None) -> LoadedModel:
    """Load ``NAME@N`` / ``NAME@ALIAS`` / ``NAME`` (latest); blob digests are verified."""
    store = current_store(store)
    record = get(store, reference)
    path = model_files(store, record)
    manifest = json.loads((path / MANIFEST).read_text())
    try:
        predictor = flavor_module(record.flavor).load(path, manifest)
    except GyreError:
        raise
    except Exception as exc:  # each flavor's library raises its own errors
        raise ModelLoadFailed(
            f"The {record.flavor} flavor could not load {record.ref}: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}. The artifact may "
            "not be what its flavor expects; register it again with the right flavor."
        ) from exc
    return LoadedModel(record, path, manifest, predictor)


def model_files(store: Store, record: ModelVersionRecord) -> Path:
    """A verified, read-only local copy of a version's files; a damaged blob is reported with
    the version that holds it and what to do."""
    from gyre.store.folders import local_copy

    try:
        return local_copy(store.blobs, record.digest, store.local_path("cache"))
    except CorruptBlob as exc:
        made_by = f" (it came from run {record.run_id})" if record.run_id else ""
        detail = str(exc).split(". The artifact", 1)[0]
        raise CorruptBlob(
            f"Model version {record.ref} cannot be loaded: {detail}. Register {record.name} "
            f"again from its original files, or re-run what registered it{made_by}; the "
            "same content gets the same version back."
        ) from exc


def set_alias(
    store: Store, name: str, alias: str, version: int, *, actor: str | None = None
) -> int | None:
    """Point ``NAME@ALIAS`` at ``version``; returns the version it pointed at before. Recorded
    in the alias history and the audit log (``actor``: who moves it, e.g. a release).

    Through the team server, a protected alias (``production``) moves only for an approver
    of the model (:data:`gyre.actors.PROTECTED_ALIASES`)."""
    if alias in actors.PROTECTED_ALIASES:
        actors.require("approver", f"model {name}", doing=f"move {name}@{alias}")
    with store.write() as tx:
        previous = rows.set_alias(tx, name, alias, version, actor or actors.user_name())
        audit.append(
            tx,
            actor or audit.default_actor(),
            "model.alias",
            f"model {name}@{version}",
            {"alias": alias, "previous": previous},
        )
        return previous


def alias_target(store: Store, name: str, alias: str) -> int | None:
    """The version ``NAME@ALIAS`` points at, or None when the alias is not set."""
    with store.read() as tx:
        try:
            return rows.resolve(tx, name, alias)
        except NotFound:
            return None


def delete(store: Store, reference: str) -> ModelVersionRecord:
    name, ref = parse_ref(reference)
    if ref is None:
        raise InvalidParameter(f"Give the version to delete: {name}@N.")
    with store.write() as tx:
        record = rows.get_version(tx, name, ref)
        rows.delete_version(tx, name, record.version)
        audit.append(tx, audit.default_actor(), "model.delete", f"model {record.ref}")
    return record
