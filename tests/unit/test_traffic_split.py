"""The traffic split: exact shares over each cycle, interleaved, never a zero-weight version."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gyre.errors import InvalidParameter
from gyre.serving.traffic import TrafficSplit


@given(st.dictionaries(st.integers(1, 50), st.integers(0, 100), min_size=1, max_size=6))
def test_every_cycle_gives_each_version_exactly_its_weight(weights: dict[int, int]) -> None:
    if not any(weights.values()):
        with pytest.raises(InvalidParameter, match="at least one version"):
            TrafficSplit(weights)
        return
    split = TrafficSplit(weights)
    total = sum(weights.values())
    for _cycle in range(3):
        picks = Counter(split.pick() for _ in range(total))
        assert picks == Counter({v: w for v, w in weights.items() if w > 0})


def test_a_small_share_is_spread_out_not_sent_in_a_burst() -> None:
    split = TrafficSplit({7: 90, 8: 10})
    picks = [split.pick() for _ in range(100)]
    gaps = [i for i, v in enumerate(picks) if v == 8]
    assert len(gaps) == 10
    assert all(8 <= b - a <= 12 for a, b in itertools.pairwise(gaps))


def test_the_heaviest_version_is_the_default() -> None:
    assert TrafficSplit({7: 30, 8: 70}).heaviest == 8
    assert TrafficSplit({7: 50, 8: 50}).heaviest == 7
