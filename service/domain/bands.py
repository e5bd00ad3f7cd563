"""The overview's score bands: the four fixed ones, bands a team sets by their boundaries, or
bands that follow the tenant's own distribution (quantiles), so that groups are told apart
where the fixed bands would put nearly all of them in the first."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from service.domain.problems import Problem

FIXED_BOUNDS = (25.0, 50.0, 75.0)  # [0, 25), [25, 50), [50, 75), [75, 100]
MAX_BOUNDS = 9                      # ten bands at most
MAX_QUANTILES = MAX_BOUNDS + 1


@dataclass(frozen=True)
class Band:
    low: float
    high: float | None  # None: open above (engagement has no maximum)
    count: int


def bounds_problems(bounds: Sequence[float], path: Sequence[str | int]) -> list[Problem]:
    """Inner boundaries: at most MAX_BOUNDS, above 0 and strictly ascending."""
    where = tuple(path)
    if len(bounds) > MAX_BOUNDS:
        return [Problem(where, "TOO_MANY_ITEMS", f"at most {MAX_BOUNDS} boundaries "
                        f"({MAX_QUANTILES} bands)")]
    if any(b <= 0 for b in bounds):
        return [Problem(where, "INVALID_VALUE", "boundaries are above 0 (the first band "
                        "starts at 0)")]
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        return [Problem(where, "INVALID_VALUE", "boundaries are strictly ascending")]
    return []


def quantile_fractions(bands: int) -> list[float]:
    """The fractions whose quantiles split a distribution into `bands` equal parts."""
    return [i / bands for i in range(1, bands)]


def distinct_bounds(quantiles: Sequence[float | None]) -> list[float]:
    """Quantiles as boundaries: ascending, without repeats or values of 0 (a band needs
    width; a score of 0 is always in the first band)."""
    found: list[float] = []
    for value in quantiles:
        if value is not None and value > 0 and (not found or value > found[-1]):
            found.append(value)
    return found


def bands(bounds: Sequence[float], counts: Sequence[int], maximum: float | None) -> list[Band]:
    """`counts[i]`: groups in band i of the `bounds` (len(bounds) + 1 of them); the last band
    ends at `maximum` (None: open)."""
    edges = [0.0, *bounds]
    return [Band(low, edges[i + 1] if i + 1 < len(edges) else maximum, counts[i])
            for i, low in enumerate(edges)]
