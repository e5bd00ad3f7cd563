"""Engagement in SQL: the set-based score of many groups at once (production), the activity a
breakdown needs (explanations), and the daily score history."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from asyncpg import Record

from service.domain.engagement import ActivityCount, TypeScoring, window
from service.domain.scoring import activity_factor
from service.domain.templates import WEIGHTINGS
from service.infra.db import Connection
from service.store.buying_groups import NAMED_GROUPS, ScoreChange
from service.store.scoring_models import active_model


@dataclass(frozen=True)
class ScoringInputs:
    """What scoring needs from the catalogue: per catalogue type its rule, how the source's
    type ids map onto the catalogue, and per template role its weighting."""

    mode: str
    window_days: int
    types: dict[UUID, TypeScoring]
    source_types: dict[int, UUID]
    today: date
    role_weightings: tuple[tuple[UUID, UUID, str], ...]  # (template, role, weighting)
    scored_at: datetime | None = None  # the last full pass (read when `today` is not given)

    @property
    def window(self) -> tuple[date, date]:
        return window(self.today, self.window_days)

    @property
    def weighting_totals(self) -> dict[UUID, int]:
        """Per template the sum of its roles' weightings: what a group's points are divided by."""
        totals: dict[UUID, int] = {}
        for template, _, weighting in self.role_weightings:
            totals[template] = totals.get(template, 0) + WEIGHTINGS[weighting]
        return totals


def tenant_today(time_zone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(ZoneInfo("UTC"))).astimezone(ZoneInfo(time_zone)).date()


async def scoring_inputs(conn: Connection, tenant_id: UUID, today: date | None = None
                         ) -> ScoringInputs:
    model = await active_model(conn, tenant_id)
    mode, days = (model.mode, model.window_days) if model else ("COUNT", 30)
    rows = await conn.fetch(
        "SELECT id, source_type_id, max_daily_frequency, weight FROM activity_types "
        "WHERE tenant_id = $1", tenant_id)
    types: dict[UUID, TypeScoring] = {}
    source_types: dict[int, UUID] = {}
    for row in rows:
        weight = model.weight_of(row["id"], row["weight"]) if model else row["weight"]
        factor = activity_factor(mode, weight)
        if factor > 0:
            types[row["id"]] = TypeScoring(row["max_daily_frequency"], factor)
        if row["source_type_id"] is not None:
            source_types[row["source_type_id"]] = row["id"]
    entries = await conn.fetch(
        "SELECT role_template_id, role_id, weighting FROM role_template_entries "
        "WHERE tenant_id = $1", tenant_id)
    scored_at = None
    if today is None:
        tenant = await conn.fetchrow(
            """SELECT time_zone, (SELECT scored_at FROM engagement_passes
                                   WHERE tenant_id = $1) AS scored_at
                 FROM tenants WHERE id = $1""", tenant_id)
        today = tenant_today((tenant["time_zone"] if tenant else None) or "UTC")
        scored_at = tenant["scored_at"] if tenant else None
    return ScoringInputs(mode, days, types, source_types, today,
                         tuple((e["role_template_id"], e["role_id"], e["weighting"])
                               for e in entries), scored_at)


# A day of one activity type (`d`, the rollup) of one lead, in hundredths of a point: its count
# up to the type's cap (`s`, the scored types) times the type's factor.
DAY_POINTS100 = "least(d.count, s.cap)::bigint * s.factor100"


def engagement_sql(weighted100: str, total: str) -> str:
    """A group's engagement from its members' points weighted by role (hundredths) and its
    template's total weighting: the one division, exact to 12 decimals (0 without points)."""
    return f"coalesce(round({weighted100}::numeric / (100 * {total}), 12), 0)"


# Each member's activity is weighted by its role and summed per group straight away: a join of
# the rollup with (lead, group, role weight) that PostgreSQL runs in parallel, aggregating into
# as many rows as there are groups (summing per lead first aggregated into a million leads in
# every worker). Integers throughout: factors are hundredths (COUNT: 100 or 0, WEIGHTED: the
# weight), weightings 20..100, so the only division is the last one, per group, exact to 12
# decimals. Parameters: $1 tenant, $2 the groups (NULL: all), $3-$5 per scored source type its
# id, factor and cap, $6-$7 the window, $8-$11 per template role its template, role, weighting
# value and the template's total (from Python: a window function in SQL would keep the plan
# serial).
def scores_sql(scope: str) -> str:
    """Each group's new and previous engagement. SOME: the groups of $2, whose members'
    activity PostgreSQL reads through the rollup's (tenant, lead) key; ONE: the group $2, the
    same with a predicate whose cached generic plan is that index plan too; ALL: hash joins."""
    targets = {"SOME": "AND m.buying_group_id = ANY($2)", "ONE": "AND m.buying_group_id = $2",
               "ALL": ""}[scope]
    groups = NAMED_GROUPS[scope]
    # A few groups: each step once, whatever the planner believes (on tables without
    # statistics it re-ran the whole aggregate for every group: seconds for 80 groups).
    # Everything: no fence, so PostgreSQL may run the steps in parallel.
    fence = "" if scope == "ALL" else "MATERIALIZED "
    return f"""
WITH scored AS (
    SELECT * FROM unnest($3::int[], $4::int[], $5::int[]) AS s (source_type_id, factor100, cap)
),
template_weights AS (
    SELECT * FROM unnest($8::uuid[], $9::uuid[], $10::int[], $11::int[])
        AS tw (role_template_id, role_id, value, total)
),
member_weights AS {fence}(
    SELECT m.buying_group_id, p.external_id AS lead_id, tw.value, tw.total
      FROM buying_group_members m
      JOIN people p ON p.tenant_id = $1 AND p.id = m.person_id
      JOIN buying_groups g ON g.tenant_id = $1 AND g.id = m.buying_group_id AND {groups}
      JOIN template_weights tw
        ON tw.role_template_id = g.role_template_id AND tw.role_id = m.role_id
     WHERE m.tenant_id = $1 AND NOT m.is_removed {targets}
),
group_points AS {fence}(
    SELECT mw.buying_group_id,
           sum({DAY_POINTS100} * mw.value) AS weighted100,
           max(mw.total) AS total
      FROM activity_daily d
      JOIN scored s ON s.source_type_id = d.source_type_id
      JOIN member_weights mw ON mw.lead_id = d.lead_id
     WHERE d.tenant_id = $1 AND d.day BETWEEN $6 AND $7
     GROUP BY mw.buying_group_id
)
SELECT g.id, g.engagement AS previous, g.completeness_computed_at,
       {engagement_sql("gp.weighted100", "gp.total")} AS engagement
  FROM buying_groups g LEFT JOIN group_points gp ON gp.buying_group_id = g.id
 WHERE g.tenant_id = $1 AND {groups}"""


# A snapshot stands for every day from its own to the next one's: the group's scores on a day
# are its latest snapshot on or before that day. A score that moved adds one for the day; one
# that did not adds nothing (a nightly pass over 100,000 unchanged groups writes no row).
def snapshot_sql(day: str, values: str, source: str, keep_day: bool = False) -> str:
    """Insert the snapshot of `values` (group id, day, completeness, engagement) from `source`
    (`x`) where they differ from the group's latest on or before `day`; a row of that day is
    updated (`keep_day`: kept)."""
    conflict = ("DO NOTHING" if keep_day else """DO UPDATE
       SET completeness = EXCLUDED.completeness, engagement = EXCLUDED.engagement,
           recorded_at = now()""")
    return f"""
    INSERT INTO buying_group_score_history (tenant_id, buying_group_id, day, completeness,
                                            engagement)
    SELECT $1, {values} FROM {source}
      LEFT JOIN LATERAL (
          SELECT h.completeness, h.engagement FROM buying_group_score_history h
           WHERE h.tenant_id = $1 AND h.buying_group_id = x.id AND h.day <= {day}
           ORDER BY h.day DESC LIMIT 1) last ON true
     WHERE (last.completeness, last.engagement) IS DISTINCT FROM (x.completeness, x.engagement)
        ON CONFLICT (tenant_id, buying_group_id, day) {conflict}"""


def _with_completeness(scores: str, ids: str = "") -> str:
    """The scored groups (a FROM item `s` with id, engagement) as `x`, each with its
    completeness as it is: the values of its snapshot. `ids`: a predicate on `g` naming them."""
    return f"""(SELECT s.id, g.completeness, s.engagement
                  FROM {scores} JOIN buying_groups g ON g.tenant_id = $1 AND g.id = s.id {ids}) x"""


def _apply(scores: str, day: str, previous: bool, ids: str, changed_only: bool = False) -> str:
    """Write the scores (a FROM item `s` with id, engagement and, if `previous`, the previous
    score to return) and the day's snapshot where a score moved; returns the ids written (and
    their scores). `ids`: `AND` one of NAMED_GROUPS. `changed_only`: only groups whose
    engagement moved are written (and returned): the nightly pass, its unchanged groups
    computed at its time."""
    returned = "s.previous, g.engagement" if previous else "g.engagement"
    result = ("id, solution_interest_id, previous, engagement" if previous
              else "id, solution_interest_id")
    only = "AND g.engagement IS DISTINCT FROM s.engagement" if changed_only else ""
    # Every scored group, with the completeness it has (this statement does not change it):
    # a group whose engagement stayed may still have a completeness no snapshot holds yet.
    scored = _with_completeness(scores, ids)
    return f"""
updated AS (
    UPDATE buying_groups g
       SET engagement = s.engagement, engagement_computed_at = now(),
           updated_at = CASE WHEN g.engagement IS DISTINCT FROM s.engagement THEN now()
                             ELSE g.updated_at END
      FROM {scores}
     WHERE g.tenant_id = $1 AND g.id = s.id {ids} {only}
    RETURNING g.id, g.solution_interest_id, g.completeness, {returned}
),
history AS ({snapshot_sql(day, f"x.id, {day}, x.completeness, x.engagement", scored)}
)
SELECT {result} FROM updated"""


_REFRESH_SOME = (f"WITH scores AS ({scores_sql('SOME')}\n),"
                 f"{_apply('scores s', '$7', True, 'AND ' + NAMED_GROUPS['SOME'])}")
_REFRESH_ONE = (f"WITH scores AS ({scores_sql('ONE')}\n),"
                f"{_apply('scores s', '$7', True, 'AND ' + NAMED_GROUPS['ONE'])}")
_SCORE_ALL = ("CREATE TEMP TABLE engagement_scores ON COMMIT DROP AS"
              f"{scores_sql('ALL')}")
_WRITE = "WITH " + _apply("unnest($2::uuid[], $3::numeric[]) AS s (id, engagement)", "$4",
                          False, "AND " + NAMED_GROUPS["SOME"], changed_only=True)


def scored_source_types(inputs: ScoringInputs) -> tuple[list[int], list[int], list[int]]:
    """Per scored source type: its id, its factor in hundredths (always whole) and its cap."""
    ids, factors, caps = [], [], []
    for source_id, type_id in inputs.source_types.items():
        rule = inputs.types.get(type_id)
        if rule is not None:
            hundredths = rule.factor * 100
            assert hundredths.denominator == 1, rule.factor
            ids.append(source_id)
            factors.append(int(hundredths))
            caps.append(rule.cap)
    return ids, factors, caps


def scoring_parameters(inputs: ScoringInputs) -> tuple[Any, ...]:
    """$3-$11 of the scoring statements."""
    ids, factors, caps = scored_source_types(inputs)
    start, end = inputs.window
    totals = inputs.weighting_totals
    weights = inputs.role_weightings
    return (ids, factors, caps, start, end, [t for t, _, _ in weights], [r for _, r, _ in weights],
            [WEIGHTINGS[w] for _, _, w in weights], [totals[t] for t, _, _ in weights])


async def for_groups(conn: Connection, one: str, some: str, tenant_id: UUID,
                     inputs: ScoringInputs, group_ids: Sequence[UUID]) -> list[Record]:
    """Run a scoring statement over these groups: `one`'s (the group as $2) for a single
    group, `some`'s (the groups as $2) for several; $3-$11 the scoring parameters."""
    parameters = scoring_parameters(inputs)
    if len(group_ids) == 1:  # a membership change: its cached plan is the right one
        return await conn.fetch(one, tenant_id, group_ids[0], *parameters)
    # Planned for these groups every time: a cached generic plan, made for "some groups", may
    # hash-join the tenant's whole rollup (seconds) where a few groups need a few index
    # lookups; planning costs a few milliseconds.
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    rows = await conn.fetch(some, tenant_id, list(group_ids), *parameters)
    await conn.execute("RESET plan_cache_mode")
    return rows


async def refresh_engagement(conn: Connection, tenant_id: UUID, inputs: ScoringInputs,
                             group_ids: Sequence[UUID]) -> list[ScoreChange]:
    """Rescore these groups and record today's snapshot, in one statement."""
    rows = await for_groups(conn, _REFRESH_ONE, _REFRESH_SOME, tenant_id, inputs, group_ids)
    return [ScoreChange(r["id"], r["previous"], r["engagement"], r["solution_interest_id"])
            for r in rows]


@dataclass(frozen=True)
class Scoring:
    groups: int       # how many were scored
    at: datetime      # when: the scoring transaction's start, before anything it read


async def score_all(conn: Connection, tenant_id: UUID, inputs: ScoringInputs) -> Scoring:
    """Every group's new score beside its current one, into the transaction's temporary table
    `engagement_scores` (id, previous, completeness_computed_at, engagement): `CREATE TABLE AS`
    runs its
    query in parallel, which a statement writing to real tables never does."""
    # Everything is read, so hash joins are right whatever the statistics say (fresh tables
    # look empty to the planner, whose nested loops then take seconds for 30 groups); their
    # hash tables hold a whole tenant's members: let them stay in memory.
    await conn.execute("SET LOCAL enable_nestloop = off")
    await conn.execute("SET LOCAL work_mem = '256MB'")
    status = await conn.execute(_SCORE_ALL, tenant_id, None, *scoring_parameters(inputs))
    return Scoring(int(status.rsplit(" ", 1)[1]), await conn.fetchval("SELECT now()"))


async def scored(conn: Connection, size: int, since: datetime | None = None
                 ) -> AsyncIterator[list[ScoreChange]]:
    """What `score_all` computed, `size` groups at a time (a cursor: memory stays flat). With
    `since` (the last full pass's start), only the groups a write may concern: those whose
    score moved, or whose completeness was computed since (it may have changed, and the day's
    snapshot holds it). Every other group's snapshot was checked by that pass, or when its
    engagement was last written (every path that writes one checks the snapshot), and holds."""
    cursor = await conn.cursor(
        """SELECT id, previous, engagement FROM engagement_scores
            WHERE $1::timestamptz IS NULL OR engagement IS DISTINCT FROM previous
               OR completeness_computed_at >= $1""", since)
    while rows := await cursor.fetch(size):
        yield [ScoreChange(r["id"], r["previous"], r["engagement"]) for r in rows]


async def write_scores(conn: Connection, tenant_id: UUID, scores: Sequence[ScoreChange],
                       day: date) -> list[ScoreChange]:
    """Store the computed scores that moved, and the day's snapshots where a score moved;
    returns the moved ones with their solution interest (groups deleted meanwhile are left
    out). The caller records the pass (`record_pass`) when every slice is stored."""
    rows = await conn.fetch(_WRITE, tenant_id, [s.buying_group_id for s in scores],
                            [s.current for s in scores], day)
    interest_of = {r["id"]: r["solution_interest_id"] for r in rows}
    return [replace(s, solution_interest_id=interest_of[s.buying_group_id])
            for s in scores if s.buying_group_id in interest_of]


async def record_pass(conn: Connection, tenant_id: UUID, scored_at: datetime) -> None:
    """Every group of the tenant was scored at `scored_at` (`Scoring.at`): the groups whose
    score did not move were not written, and their engagement was computed then (migration
    0033); the next pass looks again at the groups changed since."""
    await conn.execute(
        """INSERT INTO engagement_passes (tenant_id, scored_at) VALUES ($1, $2)
           ON CONFLICT (tenant_id) DO UPDATE SET scored_at = EXCLUDED.scored_at""",
        tenant_id, scored_at)


async def activity_of_people(
    conn: Connection, tenant_id: UUID, person_ids: Sequence[UUID], inputs: ScoringInputs
) -> list[ActivityCount]:
    """The daily counts behind a breakdown, in catalogue terms (unmapped types left out)."""
    start, end = inputs.window
    rows = await conn.fetch(
        """SELECT p.id AS person_id, d.source_type_id, d.day, d.count
             FROM people p
             JOIN activity_daily d ON d.tenant_id = p.tenant_id AND d.lead_id = p.external_id
            WHERE p.tenant_id = $1 AND p.id = ANY($2) AND d.day BETWEEN $3 AND $4""",
        tenant_id, list(person_ids), start, end,
    )
    return [
        ActivityCount(r["person_id"], inputs.source_types[r["source_type_id"]], r["day"],
                      r["count"])
        for r in rows if r["source_type_id"] in inputs.source_types
    ]


async def score_history(conn: Connection, group_ids: list[UUID], since: date, until: date
                        ) -> dict[UUID, list[Any]]:
    """Each group's scores on every day from `since` to `until`, oldest first: the latest
    snapshot on or before each day (a snapshot holds until the next one). Days before a
    group's first snapshot are left out."""
    rows = await conn.fetch(
        """SELECT q.id AS buying_group_id, d.day::date AS day, h.completeness, h.engagement
             FROM unnest($1::uuid[]) AS q (id)
             CROSS JOIN generate_series($2::date, $3::date, interval '1 day') AS d (day)
             CROSS JOIN LATERAL (
                 SELECT h.completeness, h.engagement FROM buying_group_score_history h
                  WHERE h.tenant_id = app_tenant_id() AND h.buying_group_id = q.id
                    AND h.day <= d.day::date
                  ORDER BY h.day DESC LIMIT 1) h
            ORDER BY q.id, d.day""",
        group_ids, since, until,
    )
    result: dict[UUID, list[Any]] = {g: [] for g in group_ids}
    for row in rows:
        result[row["buying_group_id"]].append(row)
    return result


async def engagement_before(conn: Connection, keys: list[tuple[UUID, date]]
                            ) -> dict[tuple[UUID, date], tuple[date, Decimal]]:
    """For each (group, day): the group's latest daily snapshot on or before the day, as
    (its day, its engagement); keys without one are left out. One statement per distinct day."""
    found: dict[tuple[UUID, date], tuple[date, Decimal]] = {}
    by_day: dict[date, list[UUID]] = {}
    for group_id, day in keys:
        by_day.setdefault(day, []).append(group_id)
    for day, group_ids in by_day.items():
        rows = await conn.fetch(
            """SELECT DISTINCT ON (buying_group_id) buying_group_id, day, engagement
                 FROM buying_group_score_history
                WHERE buying_group_id = ANY($1) AND day <= $2
                ORDER BY buying_group_id, day DESC""", group_ids, day)
        for row in rows:
            found[(row["buying_group_id"], day)] = (row["day"], row["engagement"])
    return found


async def history_missing(conn: Connection, tenant_id: UUID, day: date) -> bool:
    """Whether the tenant has groups but no snapshot from before `day`."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM buying_groups WHERE tenant_id = $1) AND NOT EXISTS ("
        "SELECT 1 FROM buying_group_score_history WHERE tenant_id = $1 AND day < $2)",
        tenant_id, day)
    return found


async def snapshot_scored(conn: Connection, tenant_id: UUID, day: date) -> int:
    """What `score_all` computed, stored as the groups' snapshots of `day` where they differ
    from the latest before it and the day has none (their completeness as it is now); how many
    were stored. The groups' own scores are not touched."""
    status = await conn.execute(
        snapshot_sql("$2", "x.id, $2, x.completeness, x.engagement",
                     _with_completeness("engagement_scores s"), keep_day=True),
        tenant_id, day)
    return int(status.split()[-1])
