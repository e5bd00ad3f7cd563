"""The overview's band rules, without a database."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from service.domain.bands import (
    bands,
    bounds_problems,
    distinct_bounds,
    quantile_fractions,
)

values = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))


@given(st.lists(values, max_size=12))
def test_boundaries_from_quantiles_are_positive_and_strictly_ascending(
    quantiles: list[float | None],
) -> None:
    found = distinct_bounds(sorted(quantiles, key=lambda v: -1 if v is None else v))
    assert all(b > 0 for b in found)
    assert all(a < b for a, b in itertools.pairwise(found))
    assert bounds_problems(found[:9], ["b"]) == []
    assert set(found) == {v for v in quantiles if v is not None and v > 0}


def test_bands_cover_from_0_to_the_maximum_or_open() -> None:
    drawn = bands([10.0, 20.0], [3, 2, 1], None)
    assert [(b.low, b.high, b.count) for b in drawn] == [
        (0.0, 10.0, 3), (10.0, 20.0, 2), (20.0, None, 1)]
    assert bands([], [4], 100.0)[0].high == 100.0
    assert quantile_fractions(4) == [0.25, 0.5, 0.75]


def test_boundaries_a_team_sets_are_checked() -> None:
    assert [p.code for p in bounds_problems([5, 5], ["b"])] == ["INVALID_VALUE"]
    assert [p.code for p in bounds_problems([0.0], ["b"])] == ["INVALID_VALUE"]
    assert [p.code for p in bounds_problems(list(range(1, 11)), ["b"])] == ["TOO_MANY_ITEMS"]
