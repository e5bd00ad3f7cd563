"""Completeness score of a buying group (docs/guide.md): for each role that counts toward
completeness, min(active members / members required, 1); the score is 100 times their mean."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from uuid import UUID

from service.domain.templates import Entry, round_half_up


@dataclass(frozen=True)
class Completeness:
    value: Fraction
    roles_filled: int
    roles_total: int

    @property
    def display(self) -> int:
        return int(round_half_up(self.value))


def completeness(entries: Sequence[Entry], active_members: Mapping[UUID, int]) -> Completeness:
    """`active_members`: role id → number of active (not removed) members in that role.

    A template with no role that counts toward completeness scores 0 of 0. The reference of
    the set-based `store.buying_groups.recompute_completeness`: tests/test_group_rules_sql.py
    holds the two equal on random templates and members."""
    counting = [e for e in entries if e.counts_toward_completeness]
    if not counting:
        return Completeness(Fraction(0), 0, 0)
    scores = [min(Fraction(active_members.get(e.role_id, 0), e.members_required), Fraction(1))
              for e in counting]
    filled = sum(1 for e in counting if active_members.get(e.role_id, 0) >= e.members_required)
    return Completeness(100 * sum(scores, Fraction(0)) / len(counting), filled, len(counting))


def missing_roles(entries: Sequence[Entry], active_members: Mapping[UUID, int]) -> list[UUID]:
    """Roles of the template with fewer active members than required, in template order."""
    return [e.role_id for e in entries if active_members.get(e.role_id, 0) < e.members_required]
