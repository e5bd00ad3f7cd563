"""The buying-groups overview: every figure of the dashboard in one aggregate statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    average_completeness: float
    average_engagement: float
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
    stagnant = (f"completeness >= {STAGNANT_COMPLETENESS} "
                f"AND stage_since < now() - interval '{STAGNANT_DAYS} days'")
    # The groups are read once into memory and scanned a few times: keep them off the disk.
    await conn.execute("SET LOCAL work_mem = '64MB'")
    accounts = ("JOIN accounts a ON a.tenant_id = g.tenant_id AND a.id = g.account_id"
                if f.industries or f.regions else "")
    row = await conn.fetchrow(
        f"""
WITH g AS MATERIALIZED (
    -- Floats: the dashboard rounds anyway, and float arithmetic is several times faster.
    SELECT g.id, g.solution_interest_id, g.stage_id, g.role_template_id,
           g.completeness::float8 AS completeness, g.engagement::float8 AS engagement,
           g.filled_role_ids,
           coalesce(g.stage_entered_at, g.created_at) AS stage_since
      FROM buying_groups g {accounts}
     WHERE {' AND '.join(where)}
),
figures AS (  -- one pass for the totals, averages and bands
    SELECT count(*) AS total, coalesce(avg(completeness), 0) AS average_completeness,
           coalesce(avg(engagement), 0) AS average_engagement,
           {_bands("completeness")} AS completeness_bands,
           {_bands("engagement")} AS engagement_bands,
           count(*) FILTER (WHERE {stagnant}) AS stagnant_count
      FROM g
),
counts AS (  -- one pass for both breakdowns
    SELECT solution_interest_id, stage_id, GROUPING(solution_interest_id) AS by_stage,
           count(*) AS n
      FROM g GROUP BY GROUPING SETS ((solution_interest_id), (stage_id))
)
SELECT f.*,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(solution_interest_id, n)), '[]')
          FROM counts WHERE by_stage = 0) AS by_solution_interest,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(stage_id, n)), '[]')
          FROM counts WHERE by_stage = 1) AS by_stage,
       (SELECT coalesce(array_agg(id), '{{}}') FROM (
            SELECT id FROM g ORDER BY engagement DESC, id LIMIT {params.add(top)}) x)
           AS top_engaged,
       (SELECT coalesce(array_agg(id), '{{}}') FROM (
            SELECT id FROM g WHERE {stagnant} ORDER BY completeness DESC, id
             LIMIT {params.add(stagnant_limit)}) x) AS stagnant,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(role_id, groups, filled)), '[]') FROM (
            SELECT e.role_id, count(*) AS groups,
                   count(*) FILTER (WHERE e.role_id = ANY(g.filled_role_ids)) AS filled
              FROM g
              JOIN role_template_entries e
                ON e.tenant_id = {tenant} AND e.role_template_id = g.role_template_id
             GROUP BY e.role_id) x) AS role_coverage
  FROM figures f
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
