"""Candidates for a role of a group: the people in the group's scope ranked by the role's rules
(evaluated rule by rule by the SQL that assigns, service/store/conditions_sql.py), then by their
activity in the scoring window; and the dismissals that keep someone off the list (migration
0025)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from service.domain.conditions import PERSON_FIELDS, ConditionGroup
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


def _ranking(conditions: ConditionGroup | None, params: SqlParams) -> tuple[str, int]:
    """The candidates' rule columns (`c0`, `c1`, ... as `explanation_sql` orders them), the
    count of rules met, and whether the group holds; and how many rules there are."""
    if conditions is None or not conditions.rules:
        return "0 AS met, false AS matched", 0
    columns = explanation_sql(conditions, PERSON_FIELDS, "p", params)
    rules = len(conditions.rules)
    named = [f"{c} AS c{i}" for i, c in enumerate(columns[:-1])]
    met = " + ".join(f"({columns[2 * i]})::int" for i in range(rules))
    return ", ".join([*named, f"{met} AS met", f"{columns[-1]} AS matched"]), rules


async def recommend(conn: Connection, tenant_id: UUID, *, group_id: UUID, account_id: UUID,
                    descendants: bool, role_id: UUID, conditions: ConditionGroup | None,
                    inputs: ScoringInputs, limit: int, offset: int
                    ) -> tuple[list[Recommendation], bool]:
    """A page of candidates (and whether more follow): people of the account (and of its
    sub-accounts with `descendants`) who do not hold the role in the group and were not
    dismissed for it, best first."""
    params = SqlParams(start=11)
    ranking, rules = _ranking(conditions, params)
    ids, factors, caps = scored_source_types(inputs)
    start, end = inputs.window
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
            candidates AS (
                SELECT p.id, p.external_id, p.last_name, {ranking}
                  FROM people p
                 WHERE p.tenant_id = $1 AND p.account_id IN (SELECT id FROM scope)
                   AND NOT EXISTS (SELECT 1 FROM buying_group_members m
                                    WHERE m.tenant_id = $1 AND m.buying_group_id = $9
                                      AND m.person_id = p.id AND m.role_id = $10
                                      AND NOT m.is_removed)
                   AND NOT EXISTS (SELECT 1 FROM recommendation_dismissals d
                                    WHERE d.tenant_id = $1 AND d.buying_group_id = $9
                                      AND d.role_id = $10 AND d.person_id = p.id)
            ),
            ranked AS (
                SELECT c.*, coalesce((
                           SELECT sum(least(d.count, s.cap)::bigint * s.factor100)
                             FROM activity_daily d
                             JOIN scored s ON s.source_type_id = d.source_type_id
                            WHERE d.tenant_id = $1 AND d.lead_id = c.external_id
                              AND d.day BETWEEN $7 AND $8), 0) AS points100
                  FROM candidates c
            )
            SELECT r.*, m.role_id AS current_role_id
              FROM ranked r
              LEFT JOIN buying_group_members m
                ON m.tenant_id = $1 AND m.buying_group_id = $9 AND m.person_id = r.id
               AND NOT m.is_removed
             ORDER BY r.matched DESC, r.met DESC, r.points100 DESC, lower(r.last_name), r.id
             LIMIT {params.add(limit + 1)} OFFSET {params.add(offset)}""",
        tenant_id, account_id, descendants, ids, factors, caps, start, end, group_id, role_id,
        *params.values)
    found = [Recommendation(
        person_id=r["id"], matched=r["matched"], met=r["met"],
        rules=[RuleResult(actual=r[f"c{2 * i + 1}"], matched=bool(r[f"c{2 * i}"]))
               for i in range(rules)],
        points=Decimal(r["points100"]) / 100, current_role_id=r["current_role_id"])
        for r in rows[:limit]]
    return found, len(rows) > limit


async def dismiss(conn: Connection, tenant_id: UUID, group_id: UUID, role_id: UUID,
                  person_id: UUID) -> None:
    await conn.execute(
        """INSERT INTO recommendation_dismissals (tenant_id, buying_group_id, role_id, person_id)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
        tenant_id, group_id, role_id, person_id)
