"""Role templates: weightings, weight percentages, and the rules an entry list must follow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any
from uuid import UUID

from service.domain.conditions import PERSON_FIELDS, ConditionGroup, validate
from service.domain.problems import Problem

WEIGHTINGS: Mapping[str, int] = {
    "TRIVIAL": 20, "MINOR": 40, "NORMAL": 60, "IMPORTANT": 80, "VITAL": 100,
}


@dataclass(frozen=True)
class Entry:
    """One role of a template, in priority order (position 0 wins first)."""

    role_id: UUID
    weighting: str
    members_required: int = 1
    counts_toward_completeness: bool = True
    conditions: ConditionGroup | None = None


def role_weights(weightings: Sequence[str]) -> list[Fraction]:
    """Each role's exact share of the template's total weighting (they sum to 1)."""
    values = [WEIGHTINGS[w] for w in weightings]
    total = sum(values)
    return [Fraction(v, total) for v in values] if total else [Fraction(0)] * len(values)


def round_half_up(value: Fraction | Decimal | float, places: int = 0) -> Decimal:
    """Round half up (74.5 → 75), the rounding every displayed score uses."""
    exact = Decimal(value.numerator) / Decimal(value.denominator) if isinstance(
        value, Fraction) else Decimal(str(value))
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def weight_percent(weight: Fraction) -> float:
    """A role weight as the API shows it: percent with two decimals (100/240 → 41.67)."""
    return float(round_half_up(weight * 100, 2))


@lru_cache(maxsize=1024)
def weight_percents(weightings: tuple[str, ...]) -> tuple[float, ...]:
    """weight_percent of each role of a template with these weightings: the same few
    templates are shown for every group of a page."""
    return tuple(weight_percent(w) for w in role_weights(weightings))


@dataclass(frozen=True)
class EntryInput:
    role_id: UUID | None  # None: the id did not name a role of this tenant
    weighting: str
    members_required: int
    counts_toward_completeness: bool
    conditions: tuple[str, Sequence[tuple[str, str, Sequence[str]]]] | None


def check_entries(entries: Sequence[EntryInput]) -> tuple[list[Entry], list[Problem]]:
    problems: list[Problem] = []
    built: list[Entry] = []
    seen: set[UUID] = set()
    for i, item in enumerate(entries):
        if item.role_id is None:
            problems.append(Problem((i, "roleId"), "NOT_FOUND", "no such role"))
        elif item.role_id in seen:
            problems.append(Problem((i, "roleId"), "DUPLICATE",
                                    "a role can appear only once in a template"))
        if item.role_id is not None:
            seen.add(item.role_id)
        if item.members_required < 1:
            problems.append(Problem((i, "membersRequired"), "INVALID_VALUE",
                                    "membersRequired must be at least 1"))
        group = None
        if item.conditions is not None:
            match, rules = item.conditions
            group, condition_problems = validate(match, rules, PERSON_FIELDS)
            problems += [p.under(i, "conditions") for p in condition_problems]
        if item.role_id is not None:
            built.append(Entry(item.role_id, item.weighting, item.members_required,
                               item.counts_toward_completeness, group))
    return (built if not problems else []), problems


def entries_to_rows(entries: Sequence[Entry]) -> list[dict[str, Any]]:
    return [
        {
            "position": i, "role_id": e.role_id, "weighting": e.weighting,
            "members_required": e.members_required,
            "counts_toward_completeness": e.counts_toward_completeness,
            "conditions": e.conditions.to_json() if e.conditions else None,
        }
        for i, e in enumerate(entries)
    ]
