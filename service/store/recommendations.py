"""Candidates for a role of a group: the people in the group's scope ranked by the role's rules
(evaluated rule by rule by the SQL that assigns, service/store/conditions_sql.py), then by their
activity in the scoring window; and the dismissals that keep someone off the list (migration
0025)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from service.domain.conditions import PERSON_FIELDS, ConditionGroup, Match
from service.infra.db import Connection
from service.store.assignments import RuleResult
from service.store.conditions_sql import explanation_sql
from service.store.engagement import ScoringInputs, scored_source_types
from service.store.sql import SqlParams


@dataclass(frozen=True)
class Recommendation:
    person_id: UUID
    matched: bool                 # the role's conditions as a whole (ALL or ANY of the rules)
    met: int                      # how many of the rules the person meets
    rules: list[RuleResult]       # each rule, in the conditions' order
    points: Decimal               # activity points in the scoring window (capped per day)
    current_role_id: UUID | None  # the person's role in this group, when a member already


def _ranking(conditions: ConditionGroup | None, params: SqlParams) -> tuple[str, str, int]:
    """The candidates' rule columns over `p` (`c0`, `c1`, ... as `explanation_sql` orders
    them: each rule's result, then the value it tested); over those, the count of rules met
    and whether the group holds (the rules' results joined as `compile_sql` joins them, so each
    rule is evaluated once per person); and how many rules there are."""
    if conditions is None or not conditions.rules:
        return "", "0 AS met, false AS matched", 0
    rules = len(conditions.rules)
    columns = explanation_sql(conditions, PERSON_FIELDS, "p", params, whole=False)
    named = ", ".join(f"{c} AS c{i}" for i, c in enumerate(columns))
    results = [f"r.c{2 * i}" for i in range(rules)]
    joiner = " AND " if conditions.match is Match.ALL else " OR "
    met = " + ".join(f"{r}::int" for r in results)
    return ", " + named, f"{met} AS met, ({joiner.join(results)}) AS matched", rules


async def recommend(conn: Connection, tenant_id: UUID, *, group_id: UUID, account_id: UUID,
                    descendants: bool, role_id: UUID, conditions: ConditionGroup | None,
                    inputs: ScoringInputs, limit: int, offset: int
                    ) -> tuple[list[Recommendation], bool, int]:
    """A page of candidates, whether more follow, and how many there are in all: people of
    the account (and of its sub-accounts with `descendants`) who do not hold the role in the
    group and were not dismissed for it, best first."""
    params = SqlParams(start=11)
    columns, ranking, rules = _ranking(conditions, params)
    ids, factors, caps = scored_source_types(inputs)
    start, end = inputs.window
    # Planned for this call: PostgreSQL's generic plan, which it settles on after a few calls
    # of the prepared statement, took twice as long (36 against 19 ms over 5,000 people).
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    rows = await conn.fetch(
        f"""WITH RECURSIVE scope (id, depth) AS (
                SELECT $2::uuid, 0
                UNION ALL
                SELECT a.id, s.depth + 1 FROM accounts a JOIN scope s
                    ON a.tenant_id = $1 AND a.parent_id = s.id
                 WHERE $3 AND s.depth < 1000
            ),
            scored AS (
                SELECT * FROM unnest($4::int[], $5::int[], $6::int[])
                    AS s (source_type_id, factor100, cap)
            ),
            candidates AS MATERIALIZED (
                SELECT r.*, {ranking} FROM (
                SELECT p.id, p.external_id, p.last_name {columns}
                  FROM people p
                 WHERE p.tenant_id = $1 AND p.account_id IN (SELECT id FROM scope)
                   AND NOT EXISTS (SELECT 1 FROM buying_group_members m
                                    WHERE m.tenant_id = $1 AND m.buying_group_id = $9
                                      AND m.person_id = p.id AND m.role_id = $10
                                      AND NOT m.is_removed)
                   AND NOT EXISTS (SELECT 1 FROM recommendation_dismissals d
                                    WHERE d.tenant_id = $1 AND d.buying_group_id = $9
                                      AND d.role_id = $10 AND d.person_id = p.id)) r
            ),
            -- The rules rank first, so only the candidates as good as the last one the page
            -- can reach need their activity counted (a role's matches are few; its
            -- non-matches, the many, mostly fall below the page).
            cutoff AS (
                SELECT matched, met FROM candidates ORDER BY matched DESC, met DESC
                OFFSET {params.add(offset + limit)} LIMIT 1
            ),
            contenders AS (
                SELECT c.* FROM candidates c
                 WHERE NOT EXISTS (SELECT FROM cutoff)
                    OR (c.matched, c.met) >= (SELECT matched, met FROM cutoff)
            ),
            page AS (
                SELECT c.*, coalesce((
                           SELECT sum(least(d.count, s.cap)::bigint * s.factor100)
                             FROM activity_daily d
                             JOIN scored s ON s.source_type_id = d.source_type_id
                            WHERE d.tenant_id = $1 AND d.lead_id = c.external_id
                              AND d.day BETWEEN $7 AND $8), 0) AS points100
                  FROM contenders c
                 ORDER BY c.matched DESC, c.met DESC, points100 DESC, lower(c.last_name), c.id
                 LIMIT {params.add(limit + 1)} OFFSET {params.add(offset)}
            )
            SELECT p.*, m.role_id AS current_role_id, c.total
              FROM (SELECT count(*) AS total FROM candidates) c  -- a row even past the end
              LEFT JOIN page p ON true
              LEFT JOIN buying_group_members m
                ON m.tenant_id = $1 AND m.buying_group_id = $9 AND m.person_id = p.id
               AND NOT m.is_removed
             ORDER BY p.matched DESC, p.met DESC, p.points100 DESC, lower(p.last_name), p.id""",
        tenant_id, account_id, descendants, ids, factors, caps, start, end, group_id, role_id,
        *params.values)
    await conn.execute("RESET plan_cache_mode")
    total = rows[0]["total"]
    rows = [r for r in rows if r["id"] is not None]
    found = [Recommendation(
        person_id=r["id"], matched=r["matched"], met=r["met"],
        rules=[RuleResult(actual=r[f"c{2 * i + 1}"], matched=bool(r[f"c{2 * i}"]))
               for i in range(rules)],
        points=Decimal(r["points100"]) / 100, current_role_id=r["current_role_id"])
        for r in rows[:limit]]
    return found, len(rows) > limit, total


async def dismiss(conn: Connection, tenant_id: UUID, group_id: UUID, role_id: UUID,
                  person_id: UUID) -> None:
    await conn.execute(
        """INSERT INTO recommendation_dismissals (tenant_id, buying_group_id, role_id, person_id)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
        tenant_id, group_id, role_id, person_id)
