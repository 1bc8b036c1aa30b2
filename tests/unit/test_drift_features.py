"""What a drift comparison compares: the typed features of a table, image columns (base64 text,
data: URLs, raw bytes) as seven image statistics, labeled image folders and the rows an endpoint
collected (in_* inputs, predicted class and top score). Images are real PNGs made by Pillow."""

from __future__ import annotations

import base64
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

import gyre
from gyre.errors import InvalidParameter
from gyre.monitoring import drift, features, images, sources
from gyre.monitoring.features import FeatureSet
from gyre.monitoring.statistics import CategoricalSample, NumericSample

IMAGE_STATISTICS = ["blue", "brightness", "contrast", "green", "height", "red", "width"]


def png(color: Any, size: tuple[int, int] = (16, 16), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG")
    return buffer.getvalue()


def gradient_png(width: int = 16, height: int = 16) -> bytes:
    """A grey ramp from black to white, left to right (levels 0, 17, ..., 255)."""
    levels = np.tile((np.arange(width) * (255 // (width - 1))).astype(np.uint8), (height, 1))
    buffer = io.BytesIO()
    Image.fromarray(levels, mode="L").save(buffer, "PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def grey_pngs(rng: np.random.Generator, count: int, low: int, high: int) -> list[bytes]:
    return [png((g, g, g)) for g in rng.integers(low, high, size=count).tolist()]


def values_of(found: FeatureSet, name: str) -> list[float]:
    """A numeric feature's finite values, sorted."""
    sample = found.features[name].sample
    assert isinstance(sample, NumericSample)
    return [float(v) for v in sample.values]


def counts_of(found: FeatureSet, name: str) -> dict[str, int]:
    sample = found.features[name].sample
    assert isinstance(sample, CategoricalSample)
    return sample.counts


def inference_rows(outputs: Any, n: int, *, images_of: list[bytes] | None = None) -> pa.Table:
    """The rows a scoring endpoint collects: bookkeeping, in_* inputs and the outputs."""
    rng = np.random.default_rng(n)
    columns: dict[str, Any] = {
        "request_id": [f"req-{i // 2}" for i in range(n)],
        "row": [i % 2 for i in range(n)],
        "model": ["flowers"] * n,
        "version": [3] * n,
        "timestamp": [1_700_000_000.0 + i for i in range(n)],
        "latency_ms": rng.uniform(2, 9, size=n),
        "in_x": rng.normal(size=n),
    }
    if images_of is not None:
        columns["in_image"] = [b64(d) for d in images_of]
    columns["outputs"] = outputs
    return pa.table(columns)


# -- Typing the columns of a table ----------------------------------------------------------


def test_numbers_are_numeric_text_booleans_and_dictionaries_categorical() -> None:
    table = pa.table(
        {
            "count": pa.array([1, 2, None, 4], pa.int64()),
            "ratio": pa.array([0.5, float("nan"), 0.25, None], pa.float32()),
            "small": pa.array([1, 2, 3, 4], pa.uint8()),
            "city": ["Oslo", "Lima", None, "Oslo"],
            "note": pa.array(["a", "b", "c", "d"], pa.large_string()),
            "member": [True, False, True, None],
            "plan": pa.array(["free", "pro", "free", "free"]).dictionary_encode(),
        }
    )
    found = features.from_table(table)
    kinds = {n: (f.kind, f.data_type, f.origin) for n, f in found.features.items()}
    assert kinds == {
        "count": ("numeric", "int64", "column"),
        "ratio": ("numeric", "float", "column"),
        "small": ("numeric", "uint8", "column"),
        "city": ("categorical", "string", "column"),
        "note": ("categorical", "large_string", "column"),
        "member": ("categorical", "bool", "column"),
        "plan": ("categorical", "string", "column"),
    }
    assert found.rows == 4
    assert found.skipped == {}
    assert found.features["count"].sample.missing == 1
    assert found.features["ratio"].sample.missing == 2  # a null and a NaN
    assert values_of(found, "ratio") == [0.25, 0.5]
    assert counts_of(found, "city") == {"Oslo": 2, "Lima": 1}
    assert found.features["city"].sample.missing == 1
    assert counts_of(found, "member") == {"true": 2, "false": 1}
    assert counts_of(found, "plan") == {"free": 3, "pro": 1}


def test_nested_and_other_types_are_skipped_with_the_reason() -> None:
    table = pa.table(
        {
            "x": [1.0, 2.0],
            "tags": [["a"], ["b", "c"]],
            "address": [{"city": "Oslo"}, {"city": "Lima"}],
            "when": pa.array([1, 2], pa.timestamp("s")),
            "price": pa.array([Decimal("1.50"), Decimal("2.25")]),
            "blob": [b"\x00\x01", b"\x02"],
        }
    )
    found = features.from_table(table)
    assert list(found.features) == ["x"]
    assert set(found.skipped) == {"tags", "address", "when", "price", "blob"}
    assert found.skipped["tags"].startswith("values of type list<")
    assert found.skipped["address"].startswith("values of type struct<")
    assert "not compared (numbers, text, booleans and images are)" in found.skipped["address"]
    assert found.skipped["blob"] == "binary values (binary) that are not images"


def test_a_pandas_frame_is_typed_like_its_arrow_table() -> None:
    frame = pd.DataFrame(
        {
            "sepal length (cm)": [5.1, 4.9, 4.7],
            "petals": [3, 4, 5],
            "species": pd.Categorical(["setosa", "setosa", "virginica"]),
            "flag": [True, False, True],
        }
    )
    found = sources.feature_set(frame)
    kinds = {n: f.kind for n, f in found.features.items()}
    assert kinds == {
        "sepal length (cm)": "numeric",
        "petals": "numeric",
        "species": "categorical",
        "flag": "categorical",
    }
    assert counts_of(found, "species") == {"setosa": 2, "virginica": 1}


def test_a_dictionary_of_integers_is_categorical() -> None:
    frame = pd.DataFrame({"pclass": pd.Categorical([1, 2, 3, 3, 1])})
    found = sources.feature_set(frame)
    assert found.features["pclass"].kind == "categorical"


def test_a_value_that_is_not_comparable_data_is_refused_with_the_forms_accepted() -> None:
    with pytest.raises(InvalidParameter) as raised:
        sources.feature_set([1.0, 2.0, 3.0])
    message = str(raised.value)
    assert "Cannot compare a list" in message
    assert "pandas DataFrame" in message
    assert "dataset reference" in message


# -- Image columns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(b64, id="base64 text"),
        pytest.param(lambda d: "data:image/png;base64," + b64(d), id="data URL"),
        pytest.param(lambda d: d, id="raw bytes"),
    ],
)
def test_an_image_column_becomes_seven_image_statistics(encode: Any) -> None:
    pictures = [
        png((255, 255, 255)),
        png((0, 0, 0)),
        png((255, 0, 0), size=(24, 8)),
        gradient_png(),
    ]
    found = features.from_table(pa.table({"photo": [encode(p) for p in pictures]}))
    assert sorted(found.features) == [f"photo.{s}" for s in IMAGE_STATISTICS]
    assert all(f.kind == "numeric" and f.origin == "image" for f in found.features.values())
    assert found.undecodable_images == 0
    # Samples are sorted, so read each statistic as a sorted list.
    assert values_of(found, "photo.width") == [16, 16, 16, 24]
    assert values_of(found, "photo.height") == [8, 16, 16, 16]
    brightness = values_of(found, "photo.brightness")
    assert brightness == pytest.approx([0.0, 0.299, 0.5, 1.0], abs=1e-12)
    ramp = np.arange(16) * 17 / 255
    assert values_of(found, "photo.contrast") == pytest.approx([0, 0, 0, np.std(ramp)], abs=1e-12)
    assert values_of(found, "photo.red") == pytest.approx([0.0, 0.5, 1.0, 1.0], abs=1e-12)
    assert values_of(found, "photo.green") == pytest.approx([0.0, 0.0, 0.5, 1.0], abs=1e-12)
    assert values_of(found, "photo.blue") == pytest.approx([0.0, 0.0, 0.5, 1.0], abs=1e-12)


def test_white_is_brightness_one_black_zero_and_a_solid_image_has_no_contrast() -> None:
    for mode, white, black in [("RGB", (255, 255, 255), (0, 0, 0)), ("L", 255, 0)]:
        assert images.statistics(png(white, mode=mode)) == pytest.approx(
            (16, 16, 1.0, 0.0, 1.0, 1.0, 1.0)
        )
        assert images.statistics(png(black, mode=mode)) == (16, 16, 0.0, 0.0, 0.0, 0.0, 0.0)


def test_solid_images_of_any_grey_have_no_contrast_and_no_contrast_drift() -> None:
    for grey in (30, 77, 200):
        assert (images.statistics(png((grey, grey, grey))) or ())[3] == 0.0
    rng = np.random.default_rng(6)
    report = drift(
        {"photo": grey_pngs(rng, 40, 30, 130)},
        {"photo": grey_pngs(rng, 40, 110, 230)},
    )
    assert "photo.brightness" in report.drifted_features
    assert "photo.contrast" not in report.drifted_features


def test_a_large_image_keeps_its_exact_size_and_its_statistics() -> None:
    big = png((200, 100, 50), size=(1030, 517))
    width, height, brightness, contrast, red, green, blue = images.statistics(big) or ()
    assert (width, height) == (1030, 517)
    assert brightness == pytest.approx((0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255)
    assert contrast == pytest.approx(0.0, abs=1e-12)
    assert (red, green, blue) == pytest.approx((200 / 255, 100 / 255, 50 / 255))


def test_images_that_cannot_be_decoded_are_counted_and_left_out() -> None:
    good = [png((g, g, g)) for g in range(0, 250, 25)]  # 10 images
    truncated = good[0][:40]  # a PNG signature and half a header
    garbage = b"\x89PNG\r\n\x1a\n" + b"not really a png"
    found = features.from_table(pa.table({"scan": [*good, truncated, garbage]}))
    assert found.undecodable_images == 2
    assert found.features["scan.width"].sample.size == 10
    report = drift({"scan": good}, {"scan": [*good, truncated, garbage]})
    assert report.undecodable_images == {"baseline": 0, "current": 2}


def test_a_missing_image_is_counted_as_missing_not_as_undecodable() -> None:
    found = features.from_table(pa.table({"photo": [png((10, 10, 10)), None, png((9, 9, 9))]}))
    assert found.undecodable_images == 0
    assert found.features["photo.brightness"].sample.missing == 1


def test_one_broken_image_among_the_first_values_does_not_hide_the_image_column() -> None:
    column = ["", *[b64(png((g, g, g))) for g in range(0, 200, 20)]]
    found = features.from_table(pa.table({"photo": column}))
    assert "photo.brightness" in found.features, sorted(found.features)
    assert found.undecodable_images == 1


def test_text_that_is_not_an_image_stays_categorical() -> None:
    found = features.from_table(pa.table({"word": ["iVBOR", "cat", "data:text/plain,hi", "QQ=="]}))
    assert found.features["word"].kind == "categorical"
    assert found.undecodable_images == 0


# -- Labeled image folders ------------------------------------------------------------------


def write_folder(root: Path, labels: dict[str, list[bytes]]) -> Path:
    for label, pictures in labels.items():
        (root / label).mkdir(parents=True)
        for i, data in enumerate(pictures):
            (root / label / f"{i:03d}.png").write_bytes(data)
    return root


def test_a_labeled_image_folder_gives_image_statistics_and_label_counts(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    root = write_folder(
        tmp_path / "flowers",
        {"daisy": grey_pngs(rng, 3, 100, 200), "rose": grey_pngs(rng, 2, 0, 100)},
    )
    found = sources.image_folder(root)
    assert sorted(found.features) == sorted(["label"] + [f"image.{s}" for s in IMAGE_STATISTICS])
    label = found.features["label"]
    assert (label.kind, label.origin) == ("categorical", "label")
    assert counts_of(found, "label") == {"daisy": 3, "rose": 2}
    assert found.rows == 5
    assert values_of(found, "image.width") == [16.0] * 5
    assert found.undecodable_images == 0


def test_a_path_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="is not a folder: a labeled image folder holds"):
        sources.image_folder(tmp_path / "missing")


def test_a_file_that_is_not_an_image_does_not_count_as_a_labeled_image(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "flowers", {"daisy": [png((1, 2, 3))] * 2})
    (root / "daisy" / "notes.txt").write_text("picked in May")
    found = sources.image_folder(root)
    assert counts_of(found, "label") == {"daisy": 2}


def test_a_folder_of_brighter_images_is_flagged_on_brightness(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    baseline = write_folder(
        tmp_path / "train", {"a": grey_pngs(rng, 20, 40, 120), "b": grey_pngs(rng, 20, 40, 120)}
    )
    current = write_folder(
        tmp_path / "now", {"a": grey_pngs(rng, 15, 130, 220), "b": grey_pngs(rng, 15, 130, 220)}
    )
    report = gyre.drift(baseline, current)
    assert "image.brightness" in report.drifted_features
    assert "image.width" not in report.drifted_features
    assert "label" not in report.drifted_features
    assert report.feature("image.brightness").statistics["ks_statistic"] == 1.0


# -- Inference datasets ---------------------------------------------------------------------


def classifier_outputs(classes: list[str], scores: list[dict[str, float]]) -> pa.Array:
    return pa.array([{"class": c, "scores": s} for c, s in zip(classes, scores, strict=True)])


def test_inference_rows_give_inputs_by_name_the_predicted_class_and_the_top_score() -> None:
    rng = np.random.default_rng(2)
    classes = ["cat", "dog", "cat", "cat", "dog", "cat"]
    scores = [{"cat": 0.9, "dog": 0.1}, {"cat": 0.3, "dog": 0.7}] + [{"cat": 0.6, "dog": 0.4}] * 4
    table = inference_rows(
        classifier_outputs(classes, scores), 6, images_of=grey_pngs(rng, 6, 0, 255)
    )
    found = features.from_table(table)
    assert sorted(found.features) == sorted(
        ["x", "prediction", "prediction_score"] + [f"image.{s}" for s in IMAGE_STATISTICS]
    )
    for bookkeeping in ("request_id", "row", "model", "version", "timestamp", "latency_ms"):
        assert bookkeeping not in found.features
        assert bookkeeping not in found.skipped
    prediction = found.features["prediction"]
    assert (prediction.kind, prediction.origin) == ("categorical", "prediction")
    assert counts_of(found, "prediction") == {"cat": 4, "dog": 2}
    score = found.features["prediction_score"]
    assert (score.kind, score.origin) == ("numeric", "prediction")
    assert values_of(found, "prediction_score") == [0.6, 0.6, 0.6, 0.6, 0.7, 0.9]
    assert found.features["x"].origin == "column"
    assert found.features["image.width"].sample.size == 6


def test_a_float_output_is_a_numeric_prediction() -> None:
    found = features.from_table(inference_rows(pa.array([1.5, 2.5, 0.5]), 3))
    prediction = found.features["prediction"]
    assert (prediction.kind, prediction.data_type) == ("numeric", "double")
    assert "prediction_score" not in found.features


def test_a_list_of_scores_gives_the_top_score_and_its_index_as_the_class() -> None:
    outputs = pa.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.0, 0.9, 0.1]])
    found = features.from_table(inference_rows(outputs, 4))
    assert counts_of(found, "prediction") == {"1": 2, "0": 1, "2": 1}
    assert values_of(found, "prediction_score") == [0.5, 0.6, 0.7, 0.9]


def test_integer_outputs_are_class_ids() -> None:
    found = features.from_table(inference_rows(pa.array([0, 1, 1]), 3))
    prediction = found.features["prediction"]
    assert prediction.kind == "categorical"
    assert counts_of(found, "prediction") == {"0": 1, "1": 2}


def test_outputs_without_a_class_or_a_score_are_skipped_with_their_fields() -> None:
    found = features.from_table(inference_rows(pa.array([{"embedding_id": 3}] * 2), 2))
    assert "prediction" not in found.features
    assert found.skipped["outputs"] == "no class or score field among ['embedding_id']"


def test_a_request_that_was_not_a_record_is_skipped_with_the_reason() -> None:
    table = inference_rows(pa.array([1.0, 2.0]), 2).append_column("inputs", pa.array([[1], [2]]))
    found = features.from_table(table)
    assert found.skipped["inputs"].startswith("the request was not a record")


def test_a_request_without_outputs_is_a_missing_prediction() -> None:
    cat = {"class": "cat", "scores": {"cat": 0.9, "dog": 0.1}}
    dog = {"class": "dog", "scores": {"cat": 0.2, "dog": 0.8}}
    outputs = pa.array([cat, None, dog])
    found = features.from_table(inference_rows(outputs, 3))
    assert counts_of(found, "prediction") == {"cat": 1, "dog": 1}
    assert found.features["prediction"].sample.missing == 1
    assert values_of(found, "prediction_score") == [0.8, 0.9]


def test_one_request_without_scores_does_not_drop_every_prediction() -> None:
    outputs = pa.array([[0.1, 0.9], None, [0.7, 0.3]], pa.list_(pa.float64()))
    found = features.from_table(inference_rows(outputs, 3))
    assert "outputs" not in found.skipped, found.skipped
    assert values_of(found, "prediction_score") == [0.7, 0.9]


def test_predicted_classes_are_compared_with_the_baselines_target() -> None:
    rng = np.random.default_rng(9)
    training = pd.DataFrame(
        {"x": rng.normal(size=300), "species": rng.choice(["cat", "dog"], size=300)}
    )
    classes = rng.choice(["cat", "dog"], size=200, p=[0.9, 0.1]).tolist()
    scores = [{"cat": 0.8, "dog": 0.2} if c == "cat" else {"cat": 0.3, "dog": 0.7} for c in classes]
    window = inference_rows(classifier_outputs(classes, scores), 200)
    report = drift(training, window, target="species")
    prediction = report.feature("prediction")
    assert (prediction.kind, prediction.origin) == ("categorical", "label")
    assert prediction.drifted
    assert report.skipped["prediction_score"] == "only in the current data"
    assert not report.feature("x").drifted


def test_a_regressors_predictions_are_compared_with_a_numeric_target() -> None:
    rng = np.random.default_rng(10)
    training = pd.DataFrame({"x": rng.normal(size=200), "price": rng.normal(100, 10, size=200)})
    window = inference_rows(pa.array(rng.normal(100, 10, size=50)), 50)
    report = drift(training, window, target="price")
    prediction = report.feature("prediction")
    assert prediction.problem is None, prediction.problem
    assert prediction.kind == "numeric"


def test_a_window_of_brighter_request_images_is_flagged_on_brightness() -> None:
    rng = np.random.default_rng(6)
    scores = [{"cat": 0.6, "dog": 0.4}] * 40
    baseline = inference_rows(
        classifier_outputs(["cat"] * 40, scores), 40, images_of=grey_pngs(rng, 40, 30, 130)
    )
    brighter = inference_rows(
        classifier_outputs(["cat"] * 40, scores), 40, images_of=grey_pngs(rng, 40, 110, 230)
    )
    report = gyre.drift(baseline, brighter, features=["image"])
    assert [f.name for f in report.features] == [f"image.{s}" for s in images.STATISTICS]
    assert "image.brightness" in report.drifted_features
    assert not report.feature("image.width").drifted
    assert not report.feature("image.height").drifted
    assert (
        report.feature("image.brightness").statistics["current_mean"]
        > (report.feature("image.brightness").statistics["baseline_mean"])
    )
    same = gyre.drift(baseline, baseline, features=["image"])
    assert same.drifted_features == []
