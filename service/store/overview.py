"""The buying-groups overview: every figure of the dashboard in one aggregate statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from service.db import Connection
from service.store.sql import SqlParams

BANDS = ((0, 25), (25, 50), (50, 75), (75, 100))
STAGNANT_COMPLETENESS = 75
STAGNANT_DAYS = 30


@dataclass(frozen=True)
class OverviewFilter:
    solution_interest_ids: Sequence[UUID] = ()
    stage_ids: Sequence[UUID] = ()
    industries: Sequence[str] = ()
    regions: Sequence[str] = ()


@dataclass(frozen=True)
class Overview:
    total: int
    average_completeness: Decimal
    average_engagement: Decimal
    by_solution_interest: list[tuple[UUID, int]]
    by_stage: list[tuple[UUID | None, int]]
    completeness_bands: list[int]
    engagement_bands: list[int]
    top_engaged: list[UUID]
    stagnant: list[UUID]
    stagnant_count: int
    role_coverage: list[tuple[UUID, int, int]]  # role, groups whose template has it, filled


def _bands(column: str) -> str:
    counts = [f"count(*) FILTER (WHERE {column} >= {low}"
              + (f" AND {column} < {high})" if i < len(BANDS) - 1 else ")")
              for i, (low, high) in enumerate(BANDS)]
    return f"ARRAY[{', '.join(counts)}]"


async def overview(conn: Connection, tenant_id: UUID, f: OverviewFilter, *, top: int = 5,
                   stagnant_limit: int = 20) -> Overview:
    params = SqlParams()
    tenant = params.add(tenant_id)
    where = [f"g.tenant_id = {tenant}"]
    if f.solution_interest_ids:
        where.append(f"g.solution_interest_id = ANY({params.add(list(f.solution_interest_ids))})")
    if f.stage_ids:
        where.append(f"g.stage_id = ANY({params.add(list(f.stage_ids))})")
    if f.industries:
        where.append(f"lower(a.industry) = ANY({params.add([i.lower() for i in f.industries])})")
    if f.regions:
        where.append(f"lower(a.region) = ANY({params.add([r.lower() for r in f.regions])})")
    stagnant = (f"g.completeness >= {STAGNANT_COMPLETENESS} AND coalesce(g.stage_entered_at, "
                f"g.created_at) < now() - interval '{STAGNANT_DAYS} days'")
    row = await conn.fetchrow(
        f"""
WITH g AS MATERIALIZED (
    SELECT g.id, g.solution_interest_id, g.stage_id, g.role_template_id, g.completeness,
           g.engagement, g.stage_entered_at, g.created_at
      FROM buying_groups g
      JOIN accounts a ON a.tenant_id = g.tenant_id AND a.id = g.account_id
     WHERE {' AND '.join(where)}
),
active AS (
    SELECT m.buying_group_id, m.role_id, count(*) AS n
      FROM buying_group_members m JOIN g ON g.id = m.buying_group_id
     WHERE m.tenant_id = {tenant} AND NOT m.is_removed
     GROUP BY 1, 2
)
SELECT (SELECT count(*) FROM g) AS total,
       (SELECT coalesce(avg(completeness), 0) FROM g) AS average_completeness,
       (SELECT coalesce(avg(engagement), 0) FROM g) AS average_engagement,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(solution_interest_id, n)), '[]')
          FROM (SELECT solution_interest_id, count(*) AS n FROM g GROUP BY 1) x)
           AS by_solution_interest,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(stage_id, n)), '[]')
          FROM (SELECT stage_id, count(*) AS n FROM g GROUP BY 1) x) AS by_stage,
       (SELECT {_bands("completeness")} FROM g) AS completeness_bands,
       (SELECT {_bands("engagement")} FROM g) AS engagement_bands,
       (SELECT coalesce(array_agg(id), '{{}}') FROM (
            SELECT id FROM g ORDER BY engagement DESC, id LIMIT {params.add(top)}) x)
           AS top_engaged,
       (SELECT coalesce(array_agg(id), '{{}}') FROM (
            SELECT id FROM g WHERE {stagnant} ORDER BY completeness DESC, id
             LIMIT {params.add(stagnant_limit)}) x) AS stagnant,
       (SELECT count(*) FROM g WHERE {stagnant}) AS stagnant_count,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(role_id, groups, filled)), '[]') FROM (
            SELECT e.role_id, count(*) AS groups,
                   count(*) FILTER (WHERE coalesce(act.n, 0) >= e.members_required) AS filled
              FROM g
              JOIN role_template_entries e
                ON e.tenant_id = {tenant} AND e.role_template_id = g.role_template_id
              LEFT JOIN active act ON act.buying_group_id = g.id AND act.role_id = e.role_id
             GROUP BY e.role_id) x) AS role_coverage
""",
        *params.values,
    )
    assert row is not None

    def uuid_or_none(value: Any) -> UUID | None:
        return UUID(value) if value else None

    return Overview(
        total=row["total"],
        average_completeness=row["average_completeness"],
        average_engagement=row["average_engagement"],
        by_solution_interest=[(UUID(i), n) for i, n in row["by_solution_interest"]],
        by_stage=[(uuid_or_none(i), n) for i, n in row["by_stage"]],
        completeness_bands=list(row["completeness_bands"]),
        engagement_bands=list(row["engagement_bands"]),
        top_engaged=list(row["top_engaged"]),
        stagnant=list(row["stagnant"]),
        stagnant_count=row["stagnant_count"],
        role_coverage=[(UUID(r), g, f) for r, g, f in row["role_coverage"]],
    )
