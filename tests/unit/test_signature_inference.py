"""Signatures inferred from the examples people have: a DataFrame (with the pinned pandas),
a numpy array, a dict of columns, a record and a list of records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from gyre.errors import InvalidParameter
from gyre.registry import signature


def test_a_dataframe_with_real_column_names_infers_one_input_per_column() -> None:
    frame = load_iris(as_frame=True).frame
    inferred = signature.infer(frame)
    assert inferred["inputs"] == [
        {"name": "sepal length (cm)", "type": "float64"},
        {"name": "sepal width (cm)", "type": "float64"},
        {"name": "petal length (cm)", "type": "float64"},
        {"name": "petal width (cm)", "type": "float64"},
        {"name": "target", "type": "int64"},
    ]


def test_dataframe_dtypes_of_pandas_3_map_to_signature_types() -> None:
    frame = pd.DataFrame(
        {
            "city": ["Taipei", "Tainan"],  # pandas 3's "str" dtype
            "missing": [1.5, None],
            "flag": [True, False],
            "count": pd.array([1, None], dtype="Int64"),
            "small": np.array([1.0, 2.0], dtype=np.float32),
        }
    )
    assert signature.infer(frame)["inputs"] == [
        {"name": "city", "type": "string"},
        {"name": "missing", "type": "float64", "nullable": True},
        {"name": "flag", "type": "bool"},
        {"name": "count", "type": "int64"},
        {"name": "small", "type": "float32"},
    ]


def test_a_numpy_array_infers_a_tensor_with_a_batch_dimension() -> None:
    example = np.zeros((2, 28, 28), dtype=np.float32)
    assert signature.infer(example) == {
        "inputs": [{"name": "input", "type": "float32", "shape": [-1, 28, 28]}]
    }


def test_a_dict_of_columns_infers_one_input_per_column() -> None:
    columns = {"size m²": [30.0, 55.5], "rooms": [1, None], "city": ["a", "b"]}
    assert signature.infer(columns)["inputs"] == [
        {"name": "size m²", "type": "float64"},
        {"name": "rooms", "type": "int64", "nullable": True},
        {"name": "city", "type": "string"},
    ]


def test_a_record_and_a_list_of_records_infer_the_same_signature() -> None:
    record = {"class": 1.0, "1st": 2, "naïve": "x"}
    expected = [
        {"name": "class", "type": "float64"},
        {"name": "1st", "type": "int64"},
        {"name": "naïve", "type": "string"},
    ]
    assert signature.infer(record)["inputs"] == expected
    assert signature.infer([record, record])["inputs"] == expected


def test_an_example_of_another_kind_names_what_to_pass() -> None:
    with pytest.raises(InvalidParameter, match="Pass a DataFrame, a numpy array, a dict"):
        signature.infer("some text")


def test_outputs_are_recorded_from_what_the_model_predicts() -> None:
    assert signature.outputs_of(np.array([0, 1, 2])) == [
        {"name": "output", "type": "int64", "shape": [-1]}
    ]
    assert signature.outputs_of(np.zeros((3, 2), dtype=np.float32)) == [
        {"name": "output", "type": "float32", "shape": [-1, 2]}
    ]
