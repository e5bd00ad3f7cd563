"""Engagement score of a buying group (docs/guide.md), the reference implementation: exact
(fractions), with the whole breakdown, so any score can be explained. Production computes the
same number set-based in SQL (service.store.engagement.refresh_engagement); a property test
(tests/test_engagement_sql.py) holds them equal.

1. per member, activity type and day: count, capped at the type's maximum daily frequency;
2. member points = sum of capped counts x the type's factor (COUNT: 1 if weight > 0, else 0;
   WEIGHTED: weight / 100);
3. role points = sum of its members' points;
4. role weight = its weighting / sum of the template's weightings;
5. score = sum of role points x role weight; shown rounded half up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from uuid import UUID

from service.domain.templates import Entry, role_weights, round_half_up


@dataclass(frozen=True)
class ActivityCount:
    """How many activities of one type a person had on one day."""

    person_id: UUID
    activity_type_id: UUID
    day: date
    count: int


@dataclass(frozen=True)
class TypeScoring:
    cap: int  # maximum daily frequency
    factor: Fraction


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int
    capped: int


@dataclass(frozen=True)
class ActivityBreakdown:
    activity_type_id: UUID
    raw_count: int
    capped_count: int
    points: Fraction
    days: tuple[DayCount, ...]


@dataclass(frozen=True)
class MemberBreakdown:
    person_id: UUID
    points: Fraction
    activities: tuple[ActivityBreakdown, ...]


@dataclass(frozen=True)
class RoleBreakdown:
    role_id: UUID
    weighting: str
    weight: Fraction
    points: Fraction
    weighted_points: Fraction
    members: tuple[MemberBreakdown, ...]


@dataclass(frozen=True)
class Engagement:
    value: Fraction
    window_start: date
    window_end: date
    roles: tuple[RoleBreakdown, ...]

    @property
    def display(self) -> int:
        return int(round_half_up(self.value))


def window(today: date, days: int) -> tuple[date, date]:
    """The `days` calendar days ending today: today and the days - 1 before it."""
    return today - timedelta(days=days - 1), today


def engagement(
    entries: Sequence[Entry],
    members: Mapping[UUID, UUID],
    activity: Iterable[ActivityCount],
    scoring: Mapping[UUID, TypeScoring],
    window_start: date,
    window_end: date,
) -> Engagement:
    """`members`: active member person id → role id. Activity outside the window, of types not
    in `scoring`, or of people who are not active members does not count."""
    per_member: dict[UUID, dict[UUID, dict[date, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int)))
    for a in activity:
        if a.person_id in members and a.activity_type_id in scoring and \
                window_start <= a.day <= window_end:
            per_member[a.person_id][a.activity_type_id][a.day] += a.count

    def member_breakdown(person_id: UUID) -> MemberBreakdown:
        activities = []
        for type_id, days in sorted(per_member[person_id].items(), key=lambda t: str(t[0])):
            rule = scoring[type_id]
            day_counts = tuple(DayCount(d, n, min(n, rule.cap)) for d, n in sorted(days.items()))
            capped = sum(d.capped for d in day_counts)
            activities.append(ActivityBreakdown(
                type_id, sum(d.count for d in day_counts), capped, capped * rule.factor,
                day_counts))
        return MemberBreakdown(person_id, sum((a.points for a in activities), Fraction(0)),
                               tuple(activities))

    weights = role_weights([e.weighting for e in entries])
    roles = []
    for entry, weight in zip(entries, weights, strict=True):
        people = sorted((p for p, r in members.items() if r == entry.role_id), key=str)
        breakdowns = tuple(member_breakdown(p) for p in people)
        points = sum((m.points for m in breakdowns), Fraction(0))
        roles.append(RoleBreakdown(entry.role_id, entry.weighting, weight, points,
                                   points * weight, breakdowns))
    value = sum((r.weighted_points for r in roles), Fraction(0))
    return Engagement(value, window_start, window_end, tuple(roles))
