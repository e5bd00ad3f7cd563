"""The buying-groups overview: every figure of the dashboard in one aggregate statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    """An array of counts per band of `column`, the last band open above."""
    counts = [f"count(*) FILTER (WHERE {column} >= {low}"
              + (f" AND {column} < {high})" if i < len(BANDS) - 1 else ")")
              for i, (low, high) in enumerate(BANDS)]
    return f"ARRAY[{', '.join(counts)}]"


async def overview(conn: Connection, tenant_id: UUID, f: OverviewFilter, *, top: int = 5,
                   stagnant_limit: int = 20) -> Overview:
    """Two scans of the groups compute every figure: one for totals, averages and bands, one
    counting per GROUPING SET (each breakdown, and each (template, filled roles) combination for
    role coverage); two short queries list the most engaged and the stagnant groups."""
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
    accounts = ("JOIN accounts a ON a.tenant_id = g.tenant_id AND a.id = g.account_id"
                if f.industries or f.regions else "")
    source = f"buying_groups g {accounts} WHERE {' AND '.join(where)}"
    stagnant = (f"g.completeness >= {STAGNANT_COMPLETENESS} AND coalesce(g.stage_entered_at, "
                f"g.created_at) < now() - interval '{STAGNANT_DAYS} days'")
    # Room to hash the grouping sets instead of sorting the groups once per set.
    await conn.execute("SET LOCAL work_mem = '64MB'")
    # Floats: the dashboard rounds anyway, and float arithmetic is several times faster.
    total_row = await conn.fetchrow(
        f"""SELECT count(*) AS n,
                   coalesce(avg(g.completeness::float8), 0) AS average_completeness,
                   coalesce(avg(g.engagement::float8), 0) AS average_engagement,
                   {_bands("g.completeness::float8")} AS completeness_bands,
                   {_bands("g.engagement::float8")} AS engagement_bands,
                   count(*) FILTER (WHERE {stagnant}) AS stagnant_count
              FROM {source}""",
        *params.values,
    )
    assert total_row is not None
    # Counting only: the per-row work of the figures above stays out of the grouping sets.
    rows = await conn.fetch(
        f"""SELECT GROUPING(g.solution_interest_id, g.stage_id, g.role_template_id,
                            g.filled_role_ids) AS grouping,
                   g.solution_interest_id, g.stage_id, g.role_template_id, g.filled_role_ids,
                   count(*) AS n
              FROM {source}
             GROUP BY GROUPING SETS ((g.solution_interest_id), (g.stage_id),
                                     (g.role_template_id, g.filled_role_ids))""",
        *params.values,
    )
    limit = f"${len(params.values) + 1}"  # one more parameter after the filter's
    top_ids = await conn.fetch(
        # In the order of the (tenant, engagement, id) index, read backwards: no sort.
        f"SELECT g.id FROM {source} ORDER BY g.engagement DESC, g.id DESC LIMIT {limit}",
        *params.values, top)
    stagnant_ids = await conn.fetch(
        f"SELECT g.id FROM {source} AND {stagnant} ORDER BY g.completeness DESC, g.id DESC "
        f"LIMIT {limit}", *params.values, stagnant_limit)
    templates = {r["role_template_id"] for r in rows if r["grouping"] == 0b1100}
    entries = await conn.fetch(
        "SELECT role_template_id, role_id FROM role_template_entries "
        "WHERE tenant_id = $1 AND role_template_id = ANY($2)", tenant_id, list(templates))
    roles_of: dict[UUID, list[UUID]] = {}
    for e in entries:
        roles_of.setdefault(e["role_template_id"], []).append(e["role_id"])
    coverage: dict[UUID, list[int]] = {}
    for r in rows:
        if r["grouping"] != 0b1100:
            continue
        filled = set(r["filled_role_ids"])
        for role in roles_of.get(r["role_template_id"], []):
            counts = coverage.setdefault(role, [0, 0])
            counts[0] += r["n"]
            counts[1] += r["n"] if role in filled else 0
    return Overview(
        total=total_row["n"],
        average_completeness=total_row["average_completeness"],
        average_engagement=total_row["average_engagement"],
        by_solution_interest=[(r["solution_interest_id"], r["n"]) for r in rows
                              if r["grouping"] == 0b0111],
        by_stage=[(r["stage_id"], r["n"]) for r in rows if r["grouping"] == 0b1011],
        completeness_bands=list(total_row["completeness_bands"]),
        engagement_bands=list(total_row["engagement_bands"]),
        top_engaged=[r["id"] for r in top_ids],
        stagnant=[r["id"] for r in stagnant_ids],
        stagnant_count=total_row["stagnant_count"],
        role_coverage=[(role, groups, filled) for role, (groups, filled) in coverage.items()],
    )
