"""Invariants, checked on generated inputs (hypothesis)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gyre.pipelines.cache_key import canonical_json
from gyre.pipelines.params import coerce
from gyre.store.blobs import LocalBlobStore
from gyre.tracking.run_query import parse_filter

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.binary(max_size=4096))
@settings(max_examples=50, deadline=None)
def test_a_blob_reads_back_exactly_and_is_named_by_its_sha256(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        blobs = LocalBlobStore(Path(folder))
        digest = blobs.put_bytes(data)
        assert digest == hashlib.sha256(data).hexdigest()
        assert blobs.read_bytes(digest) == data


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_the_key_of_a_parameter_dict_does_not_depend_on_its_order(values: dict[str, Any]) -> None:
    reordered = dict(reversed(list(values.items())))
    assert canonical_json(values) == canonical_json(reordered)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_an_int_parameter_typed_on_a_command_line_parses_back(n: int) -> None:
    assert coerce("p", "n", int, str(n)) == n


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_parameter_typed_on_a_command_line_parses_back(x: float) -> None:
    assert coerce("p", "x", float, repr(x)) == x


@given(
    st.sampled_from(["metrics", "params", "tags"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
    st.integers(min_value=-1000, max_value=1000),
)
def test_every_well_formed_condition_parses(prefix: str, key: str, op: str, value: int) -> None:
    (condition,) = parse_filter(f"{prefix}.{key} {op} {value}")
    assert (condition.field, condition.op, condition.value) == (f"{prefix}.{key}", op, value)
