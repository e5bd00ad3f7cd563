"""The engagement formula on its own: the worked example, caps, windows, rounding."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from uuid import UUID, uuid4

from service.domain.engagement import ActivityCount, TypeScoring, engagement, window
from service.domain.templates import Entry, round_half_up

TODAY = date(2026, 11, 26)
YESTERDAY = TODAY - timedelta(days=1)
DM, INFLUENCER, PRACTITIONER = uuid4(), uuid4(), uuid4()
VISIT, CLICK, DOWNLOAD = uuid4(), uuid4(), uuid4()
COUNT_MODE = {t: TypeScoring(20, Fraction(1)) for t in (VISIT, CLICK, DOWNLOAD)}
ENTRIES = [Entry(DM, "VITAL"), Entry(INFLUENCER, "IMPORTANT"), Entry(PRACTITIONER, "NORMAL")]


def worked_example() -> tuple[dict[UUID, UUID], list[ActivityCount], dict[str, UUID]]:
    people = {name: uuid4() for name in ("Adam", "Mark", "John", "Bob", "Paul", "Calvin")}
    roles = {"Adam": DM, "Mark": DM, "John": INFLUENCER, "Bob": PRACTITIONER,
             "Paul": PRACTITIONER, "Calvin": PRACTITIONER}
    table = [  # (member, activity, yesterday, today) — the worked example of docs/guide.md
        ("Adam", VISIT, 37, 15), ("Adam", CLICK, 1, 1),
        ("Mark", VISIT, 5, 3), ("Mark", CLICK, 1, 1), ("Mark", DOWNLOAD, 3, 2),
        ("John", VISIT, 19, 9),
        ("Bob", CLICK, 1, 1), ("Paul", CLICK, 1, 1),
        ("Calvin", CLICK, 1, 1), ("Calvin", VISIT, 1, 7), ("Calvin", DOWNLOAD, 1, 2),
    ]
    activity = []
    for name, kind, yesterday, today in table:
        activity.append(ActivityCount(people[name], kind, YESTERDAY, yesterday))
        activity.append(ActivityCount(people[name], kind, TODAY, today))
    return {people[n]: r for n, r in roles.items()}, activity, people


def test_the_worked_example_scores_exactly_35_25() -> None:
    members, activity, people = worked_example()
    start, end = window(TODAY, 30)
    result = engagement(ENTRIES, members, activity, COUNT_MODE, start, end)
    assert [r.points for r in result.roles] == [52, 28, 17]
    assert [r.weight for r in result.roles] == [Fraction(100, 240), Fraction(80, 240),
                                                Fraction(60, 240)]
    assert result.value == Fraction(3525, 100)
    assert result.display == 35
    adam = next(m for m in result.roles[0].members if m.person_id == people["Adam"])
    visits = next(a for a in adam.activities if a.activity_type_id == VISIT)
    assert (visits.raw_count, visits.capped_count, visits.points) == (52, 35, Fraction(35))
    assert [(d.count, d.capped) for d in visits.days] == [(37, 20), (15, 15)]


def test_the_window_is_today_and_the_29_days_before() -> None:
    start, end = window(TODAY, 30)
    assert (end - start).days == 29 and end == TODAY
    person = uuid4()
    inside = ActivityCount(person, VISIT, TODAY - timedelta(days=29), 1)
    outside = ActivityCount(person, VISIT, TODAY - timedelta(days=30), 1)
    result = engagement(ENTRIES, {person: DM}, [inside, outside], COUNT_MODE, start, end)
    assert result.roles[0].points == 1


def test_the_daily_cap_is_inclusive() -> None:
    person = uuid4()
    start, end = window(TODAY, 30)
    at_cap = engagement(ENTRIES, {person: DM}, [ActivityCount(person, VISIT, TODAY, 20)],
                        COUNT_MODE, start, end)
    over_cap = engagement(ENTRIES, {person: DM}, [ActivityCount(person, VISIT, TODAY, 21)],
                          COUNT_MODE, start, end)
    assert at_cap.roles[0].points == over_cap.roles[0].points == 20


def test_weighted_mode_and_unscored_types() -> None:
    person = uuid4()
    start, end = window(TODAY, 30)
    weighted = {VISIT: TypeScoring(20, Fraction(40, 100))}  # CLICK has weight 0: not scored
    result = engagement(ENTRIES, {person: INFLUENCER},
                        [ActivityCount(person, VISIT, TODAY, 5),
                         ActivityCount(person, CLICK, TODAY, 5)], weighted, start, end)
    assert result.roles[1].points == 2
    assert result.value == Fraction(2) * Fraction(80, 240)


def test_rounding_is_half_up() -> None:
    assert round_half_up(Fraction(745, 10)) == 75
    assert round_half_up(Fraction(7589999, 100000)) == 76
    assert round_half_up(Fraction(3525, 100)) == 35
