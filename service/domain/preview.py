"""What a template would make of an audience: the figures of a preview, from how many people
its rules would put in each role of each account's group. Completeness is the one the groups
would get (service/domain/completeness.py), so a preview agrees with the groups created."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from uuid import UUID

from service.domain.bands import FIXED_BOUNDS, Band, bands
from service.domain.completeness import completeness
from service.domain.templates import Entry


@dataclass(frozen=True)
class FillRate:
    role_id: UUID
    filled: int         # groups whose role would have its required members
    with_members: int   # groups whose role would have at least one member

    def rate(self, groups: int) -> float:
        return round(100 * self.filled / groups, 2) if groups else 0.0


@dataclass(frozen=True)
class Summary:
    groups: int
    average_completeness: Fraction
    bands: list[Band]
    fill_rates: list[FillRate]
    members: int


def band_of(value: Fraction) -> int:
    """The index of the overview's fixed band a completeness falls in (100 in the last)."""
    return sum(value >= bound for bound in FIXED_BOUNDS)


def summarise(entries: Sequence[Entry], accounts: Iterable[UUID],
              counts: Mapping[UUID, Mapping[UUID, int]]) -> Summary:
    """`counts`: account → role → how many people the rules would put in it (accounts
    without any left out); `accounts`: the whole audience."""
    tally = [0] * (len(FIXED_BOUNDS) + 1)
    filled = {e.role_id: 0 for e in entries}
    some = {e.role_id: 0 for e in entries}
    total, groups, members = Fraction(0), 0, 0
    empty: Mapping[UUID, int] = {}
    for account in accounts:
        per_role = counts.get(account, empty)
        score = completeness(entries, per_role)
        tally[band_of(score.value)] += 1
        total += score.value
        groups += 1
        for entry in entries:
            n = per_role.get(entry.role_id, 0)
            members += n
            some[entry.role_id] += n > 0
            filled[entry.role_id] += n >= entry.members_required
    return Summary(
        groups=groups, average_completeness=total / groups if groups else Fraction(0),
        bands=bands(FIXED_BOUNDS, tally, 100.0),
        fill_rates=[FillRate(e.role_id, filled[e.role_id], some[e.role_id]) for e in entries],
        members=members)
