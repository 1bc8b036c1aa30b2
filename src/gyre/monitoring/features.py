"""What a drift comparison compares: the features of a table, an inference dataset or an image
folder, each typed numeric or categorical and ready for :mod:`gyre.monitoring.statistics`.

- A table: every column. Integer and floating columns are numeric; text, booleans and
  dictionaries are categorical; a text or binary column whose values are images becomes the
  seven image statistics (``image.brightness``, ...; see :mod:`gyre.monitoring.images`);
  lists, structs and other nested types are skipped, with the reason.
- An inference dataset (the rows a scoring endpoint collected): its ``in_<field>`` columns
  under the field's own name, so they line up with the training data; its ``outputs`` become
  ``prediction`` (the predicted class or value) and, for classifiers that return scores,
  ``prediction_score`` (the top score). Bookkeeping columns (request id, latency, ...) are
  not features.
- A labeled image folder: the image statistics of every image, and ``label`` (its folder).

A baseline's label column (``target``, or ``label`` of an image folder) is what the
predictions are compared with: the distribution of predicted classes against the classes the
model was trained on needs no ground truth.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gyre.monitoring import images
from gyre.monitoring.statistics import CategoricalSample, NumericSample

INFERENCE_COLUMNS = frozenset(
    {"request_id", "row", "model", "version", "timestamp", "latency_ms", "outputs"}
)
INPUT_PREFIX = "in_"
PREDICTION = "prediction"
PREDICTION_SCORE = "prediction_score"
MISSING = "missing"  # the kind of a column whose values are all null
CLASS_FIELDS = ("class", "label", "prediction", "predicted_class")
SCORE_FIELDS = ("scores", "probabilities", "probs", "score")
IMAGE_SAMPLE_ROWS = 64  # the values looked at to decide whether a text column holds images
# Columns computed side by side: one per core (sorting and merging release the GIL); more
# threads only add memory. Small data is computed in the calling thread.
WORKERS = min(4, os.cpu_count() or 1)
PARALLEL_FROM_ROWS = 50_000


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # numeric | categorical | missing (all null: Arrow's null type)
    origin: str  # column | image | prediction | label
    data_type: str  # the Arrow type it came from (image statistics: the image column's)
    sample: NumericSample | CategoricalSample


@dataclass
class FeatureSet:
    features: dict[str, Feature]
    rows: int
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it is not compared
    undecodable_images: int = 0


def is_inference_table(table: Any) -> bool:
    names = set(table.column_names)
    return {"request_id", "timestamp", "outputs"} <= names


def from_table(table: Any, *, target: str | None = None) -> FeatureSet:
    """The features of a pyarrow Table (an inference dataset's rows are recognised)."""
    columns: dict[str, tuple[Any, str]] = {}  # feature column -> (array, origin)
    skipped: dict[str, str] = {}
    inference = is_inference_table(table)
    for name in table.column_names:
        column = table.column(name)
        if inference:
            if name == "outputs":
                columns.update(prediction_columns(column, skipped))
                continue
            if name in INFERENCE_COLUMNS:
                continue
            if name.startswith(INPUT_PREFIX):
                columns[name[len(INPUT_PREFIX) :]] = (column, "column")
            elif name == "inputs":
                skipped[name] = "the request was not a record: it has no named fields to compare"
            continue
        if target is not None and name == target:
            columns[PREDICTION] = (column, "label")
        else:
            columns[name] = (column, "column")
    if target is not None and not inference and target not in table.column_names:
        skipped[target] = "the target column is not in the table"
    return _build(columns, table.num_rows, skipped)


def from_image_folder(root: Path, relative_paths: list[str]) -> FeatureSet:
    """The image statistics and labels of a labeled image folder."""
    import pyarrow as pa

    paths, labels = images.folder_files(root, relative_paths)
    contents: list[bytes | None] = [p.read_bytes() for p in paths]
    stats, failed = _image_columns(contents)
    features = {
        f"image.{name}": Feature(f"image.{name}", "numeric", "image", "image", sample)
        for name, sample in stats.items()
    }
    features["label"] = Feature(
        "label",
        "categorical",
        "label",
        "string",
        _categorical(pa.chunked_array([pa.array(labels)])),
    )
    return FeatureSet(features, len(paths), undecodable_images=failed)


def prediction_columns(column: Any, skipped: dict[str, str]) -> dict[str, tuple[Any, str]]:
    """``prediction`` (the class or value answered, one per row) and ``prediction_score`` (a
    classifier's top score) of an inference dataset's ``outputs``, as far as they hold them;
    why not otherwise, in ``skipped``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    found: dict[str, tuple[Any, str]] = {}
    if pa.types.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        combined = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        fields = dict(zip(names, combined.flatten(), strict=True))  # with the struct's nulls
        for candidate in CLASS_FIELDS:
            if candidate in names:
                found[PREDICTION] = (pa.chunked_array([fields[candidate]]), "prediction")
                break
        for candidate in SCORE_FIELDS:
            if candidate in names:
                scores = fields[candidate]
                top = _top_score(scores)
                if top is not None:
                    found[PREDICTION_SCORE] = (pa.chunked_array([top]), "prediction")
                break
        if not found:
            skipped["outputs"] = f"no class or score field among {names}"
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        top = _top_score(column.combine_chunks())
        if top is not None:
            found[PREDICTION_SCORE] = (pa.chunked_array([top]), "prediction")
            found[PREDICTION] = (pa.chunked_array([_argmax(column.combine_chunks())]), "prediction")
        else:
            skipped["outputs"] = f"a list of {kind.value_type}, not of scores"
    elif pa.types.is_floating(kind):
        found[PREDICTION] = (column, "prediction")
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind) or _is_text(kind):
        found[PREDICTION] = (pc.cast(column, pa.string()), "prediction")
    else:
        skipped["outputs"] = f"predictions of type {kind} are not compared"
    return found


def _top_score(scores: Any) -> Any:
    """The largest score per row (null where a row has none), of a struct of numbers (one per
    class) or a list of numbers; None when these are not scores."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = scores.type
    if pa.types.is_struct(kind):
        children = scores.flatten()  # with the struct's own nulls
        if not children or not all(_is_number(c.type) for c in children):
            return None
        return pc.max_element_wise(*[pc.cast(c, pa.float64()) for c in children])
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and _is_number(kind.value_type):
        return _per_list(scores, np_function="max")
    return None


def _argmax(scores: Any) -> Any:
    """The index of the largest score per row, as text (a class number)."""
    return _per_list(scores, np_function="argmax")


def _per_list(scores: Any, np_function: str) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    offsets = scores.offsets.to_numpy()
    values = pc.cast(scores.flatten(), pa.float64()).to_numpy(zero_copy_only=False)
    starts = offsets[:-1] - offsets[0]
    lengths = np.diff(offsets)
    lengths[~scores.is_valid().to_numpy(zero_copy_only=False)] = 0
    present = lengths > 0
    if np_function == "max":
        top = np.zeros(len(lengths))
        if values.size and present.any():
            top[present] = np.maximum.reduceat(values, starts[present])
        return pa.array(top, mask=~present)
    best = [
        str(int(np.argmax(values[s : s + n]))) if n else None
        for s, n in zip(starts, lengths, strict=True)
    ]
    return pa.array(best, pa.string())


def _is_number(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _build(columns: dict[str, tuple[Any, str]], rows: int, skipped: dict[str, str]) -> FeatureSet:
    """Type each column and build its sample, columns side by side on a few threads (sorting
    and counting release the GIL)."""
    features: dict[str, Feature] = {}
    undecodable = 0
    if rows < PARALLEL_FROM_ROWS:
        built = {name: _feature(name, *item) for name, item in columns.items()}
    else:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            built = dict(
                zip(
                    columns,
                    pool.map(lambda item: _feature(item[0], *item[1]), columns.items()),
                    strict=True,
                )
            )
    for name, outcome in built.items():
        if isinstance(outcome, str):
            skipped[name] = outcome
            continue
        found, failed = outcome
        undecodable += failed
        features.update({f.name: f for f in found})
    return FeatureSet(features, rows, skipped, undecodable)


def _feature(name: str, column: Any, origin: str) -> tuple[list[Feature], int] | str:
    import pyarrow as pa

    kind = column.type
    if pa.types.is_null(kind):  # every value missing: no type to compare by
        return [Feature(name, MISSING, origin, str(kind), CategoricalSample({}, len(column)))], 0
    if pa.types.is_dictionary(kind):  # categories, whatever their values' type
        text = column.cast(kind.value_type).cast(pa.string())
        return [Feature(name, "categorical", origin, str(kind.value_type), _categorical(text))], 0
    # A label column is what the predictions are compared with: floats are a regressor's
    # values, other numbers are classes (as integer predictions are).
    if _is_number(kind) and (origin != "label" or pa.types.is_floating(kind)):
        return [Feature(name, "numeric", origin, str(kind), _numeric(column))], 0
    if _is_text(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        if _holds_images(column):
            return _image_features(name, column, str(kind))
        if not _is_text(kind):
            return f"binary values ({kind}) that are not images"
        return [Feature(name, "categorical", origin, str(kind), _categorical(column))], 0
    if pa.types.is_boolean(kind) or (_is_number(kind) and origin == "label"):
        text = column.cast(pa.string())
        return [Feature(name, "categorical", origin, str(kind), _categorical(text))], 0
    return f"values of type {kind} are not compared (numbers, text, booleans and images are)"


def _numeric(column: Any) -> NumericSample:
    import pyarrow as pa

    values = column.cast(pa.float64()) if column.type != pa.float64() else column
    array = values.to_numpy() if values.null_count == 0 else values.to_numpy(zero_copy_only=False)
    return NumericSample.of(array, missing=0)


def _categorical(column: Any) -> CategoricalSample:
    import pyarrow.compute as pc

    counted = pc.value_counts(column)
    counts: dict[str, int] = {}
    for value, count in zip(
        counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
    ):
        if value is not None:
            counts[str(value)] = counts.get(str(value), 0) + int(count)
    return CategoricalSample(counts, column.null_count)


def _holds_images(column: Any) -> bool:
    """Whether most of the first non-empty values are images (a broken one among them does
    not hide the column: it is counted as undecodable)."""
    sample = [v for v in column.slice(0, IMAGE_SAMPLE_ROWS).drop_null().to_pylist() if v]
    return bool(sample) and sum(images.looks_like_image(v) for v in sample) * 2 > len(sample)


def _image_features(name: str, column: Any, data_type: str) -> tuple[list[Feature], int]:
    decoded = [
        None if v is None else (images.decode(v) or b"")  # b"": there, but not an image
        for v in column.to_pylist()
    ]
    stats, failed = _image_columns(decoded)
    return [
        Feature(f"{name}.{stat}", "numeric", "image", data_type, sample)
        for stat, sample in stats.items()
    ], failed


def _image_columns(contents: list[bytes | None]) -> tuple[dict[str, NumericSample], int]:
    values, failed, missing = images.columns(contents)
    return {name: NumericSample.of(a, missing=missing) for name, a in values.items()}, failed
