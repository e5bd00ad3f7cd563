"""The buying-groups overview: every figure of the dashboard from the running tallies of
buying groups per cell, in one aggregate statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from service.infra.db import Connection
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


STAGNANT = (f"g.completeness >= {STAGNANT_COMPLETENESS} AND coalesce(g.stage_entered_at, "
            f"g.created_at) < now() - interval '{STAGNANT_DAYS} days'")

# The cells of the overview: (solution interest, stage, template, filled roles, completeness
# band, engagement band) with their groups and score sums. From the running tallies when the
# filter is on the groups' own columns; from the groups themselves (joined to their accounts)
# when it is on account attributes, which the tallies do not keep.
_CELLS_FROM_TALLIES = """
cells AS (
    SELECT g.solution_interest_id, g.stage_id, g.role_template_id, g.filled_role_ids,
           g.completeness_band, g.engagement_band, sum(g.groups) AS n,
           sum(g.completeness_sum) AS completeness_sum, sum(g.engagement_sum) AS engagement_sum
      FROM buying_group_tallies g WHERE {where}
     GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(g.groups) <> 0)"""
# The matching groups are read once; the stagnant count and both lists come from them too.
_CELLS_FROM_GROUPS = f"""
matching AS MATERIALIZED (
    SELECT g.id, g.solution_interest_id, g.stage_id, g.role_template_id, g.filled_role_ids,
           g.completeness, g.engagement, ({STAGNANT}) AS stagnant
      FROM buying_groups g JOIN accounts a ON a.tenant_id = g.tenant_id AND a.id = g.account_id
     WHERE {{where}}),
cells AS (
    SELECT solution_interest_id, stage_id, role_template_id, filled_role_ids,
           score_band(completeness) AS completeness_band,
           score_band(engagement) AS engagement_band, count(*) AS n,
           sum(completeness) AS completeness_sum, sum(engagement) AS engagement_sum
      FROM matching GROUP BY 1, 2, 3, 4, 5, 6)"""
_LISTS_FROM_GROUPS = """,
       (SELECT count(*) FROM matching WHERE stagnant) AS stagnant_count,
       (SELECT coalesce(array_agg(id), '{{}}') FROM (
            SELECT id FROM matching ORDER BY engagement DESC, id DESC LIMIT {top}) t)
           AS top_ids,
       (SELECT coalesce(array_agg(id), '{{}}') FROM (
            SELECT id FROM matching WHERE stagnant ORDER BY completeness DESC, id DESC
             LIMIT {stagnant}) t) AS stagnant_ids"""
_ROLLUP = """
WITH {cells}
SELECT GROUPING(solution_interest_id, stage_id, role_template_id, filled_role_ids,
                completeness_band, engagement_band) AS grouping,
       solution_interest_id, stage_id, role_template_id, filled_role_ids, completeness_band,
       engagement_band, sum(n)::bigint AS n, sum(completeness_sum) AS completeness_sum,
       sum(engagement_sum) AS engagement_sum{lists}
  FROM cells
 GROUP BY GROUPING SETS ((solution_interest_id), (stage_id), (role_template_id, filled_role_ids),
                         (completeness_band), (engagement_band), ())"""
# GROUPING() bits, first column highest: a set's own columns are 0.
_BY_INTEREST, _BY_STAGE, _BY_FILLED = 0b011111, 0b101111, 0b110011
_BY_COMPLETENESS, _BY_ENGAGEMENT, _TOTAL = 0b111101, 0b111110, 0b111111


async def overview(conn: Connection, tenant_id: UUID, f: OverviewFilter, *, top: int = 5,
                   stagnant_limit: int = 20, from_tallies: bool | None = None) -> Overview:
    """Every figure from one aggregate over the overview's cells, rolled up per breakdown with
    grouping sets. From the tallies, the stagnant groups are counted through their index and
    the two lists follow the score indexes (three short queries); from the groups (account
    filters), the same statement computes them. `from_tallies` forces the source (tests
    compare the two); by default the tallies serve every filter but account attributes."""
    params = SqlParams()
    where = _filter_clauses(tenant_id, f, params)
    on_accounts = bool(f.industries or f.regions)
    if from_tallies is None:
        from_tallies = not on_accounts
    assert not (from_tallies and on_accounts), "the tallies know no account attributes"
    if not from_tallies:
        lists = _LISTS_FROM_GROUPS.format(top=params.add(top), stagnant=params.add(stagnant_limit))
        rows = await conn.fetch(_ROLLUP.format(
            cells=_CELLS_FROM_GROUPS.format(where=" AND ".join(where)), lists=lists),
            *params.values)
        first = rows[0]  # the () grouping set always yields a row
        stagnant_count, top_ids, stagnant_ids = (
            first["stagnant_count"], list(first["top_ids"]), list(first["stagnant_ids"]))
    else:
        rows = await conn.fetch(_ROLLUP.format(
            cells=_CELLS_FROM_TALLIES.format(where=" AND ".join(where)), lists=""),
            *params.values)
        source = f"buying_groups g WHERE {' AND '.join(where)}"
        stagnant_count = await conn.fetchval(
            f"SELECT count(*) FROM {source} AND {STAGNANT}", *params.values)
        limit = f"${len(params.values) + 1}"  # one more parameter after the filter's
        # In the order of the (tenant, score, id) indexes, read backwards: no sort.
        top_ids = [r["id"] for r in await conn.fetch(
            f"SELECT g.id FROM {source} ORDER BY g.engagement DESC, g.id DESC LIMIT {limit}",
            *params.values, top)]
        stagnant_ids = [r["id"] for r in await conn.fetch(
            f"SELECT g.id FROM {source} AND {STAGNANT} ORDER BY g.completeness DESC, g.id DESC "
            f"LIMIT {limit}", *params.values, stagnant_limit)]
    total = next((r for r in rows if r["grouping"] == _TOTAL), None)
    n = total["n"] if total and total["n"] else 0

    def bands(grouping: int, column: str) -> list[int]:
        counts = [0] * len(BANDS)
        for r in rows:
            if r["grouping"] == grouping:
                counts[r[column]] += r["n"]
        return counts

    return Overview(
        total=n,
        average_completeness=float(total["completeness_sum"]) / n if total and n else 0.0,
        average_engagement=float(total["engagement_sum"]) / n if total and n else 0.0,
        by_solution_interest=[(r["solution_interest_id"], r["n"]) for r in rows
                              if r["grouping"] == _BY_INTEREST],
        by_stage=[(r["stage_id"], r["n"]) for r in rows if r["grouping"] == _BY_STAGE],
        completeness_bands=bands(_BY_COMPLETENESS, "completeness_band"),
        engagement_bands=bands(_BY_ENGAGEMENT, "engagement_band"),
        top_engaged=top_ids,
        stagnant=stagnant_ids,
        stagnant_count=stagnant_count,
        role_coverage=await _role_coverage(
            conn, tenant_id, [r for r in rows if r["grouping"] == _BY_FILLED]),
    )


async def _role_coverage(conn: Connection, tenant_id: UUID, rows: list[Any]
                         ) -> list[tuple[UUID, int, int]]:
    """Per role, in the catalogue's order: groups whose template has it, and of those the
    groups that filled it, from the counts per (template, filled roles). The order is fixed:
    two reads of the same tallies answer alike (a cached answer, a client's diff)."""
    entries = await conn.fetch(
        "SELECT e.role_template_id, e.role_id FROM role_template_entries e "
        "JOIN roles r ON r.tenant_id = e.tenant_id AND r.id = e.role_id "
        "WHERE e.tenant_id = $1 AND e.role_template_id = ANY($2) ORDER BY r.position, r.id",
        tenant_id, list({r["role_template_id"] for r in rows}))
    roles_of: dict[UUID, list[UUID]] = {}
    # Every role listed first in the catalogue's order, whatever order the rows come in.
    coverage: dict[UUID, list[int]] = {e["role_id"]: [0, 0] for e in entries}
    for e in entries:
        roles_of.setdefault(e["role_template_id"], []).append(e["role_id"])
    for r in rows:
        filled = set(r["filled_role_ids"])
        for role in roles_of.get(r["role_template_id"], []):
            counts = coverage[role]
            counts[0] += r["n"]
            counts[1] += r["n"] if role in filled else 0
    return [(role, groups, filled) for role, (groups, filled) in coverage.items()]


async def compact_tallies(conn: Connection, tenant_id: UUID) -> None:
    """Fold the tenant's tally deltas into one row per cell (see migration 0007)."""
    await conn.execute("SELECT compact_tallies($1)", tenant_id)


def _filter_clauses(tenant_id: UUID, f: OverviewFilter, params: SqlParams) -> list[str]:
    """The filter's conditions on the groups `g` (and, for account attributes, their
    accounts `a`)."""
    where = [f"g.tenant_id = {params.add(tenant_id)}"]
    if f.solution_interest_ids:
        where.append(f"g.solution_interest_id = ANY({params.add(list(f.solution_interest_ids))})")
    if f.stage_ids:
        where.append(f"g.stage_id = ANY({params.add(list(f.stage_ids))})")
    if f.industries:
        where.append(f"lower(a.industry) = ANY({params.add([i.lower() for i in f.industries])})")
    if f.regions:
        where.append(f"lower(a.region) = ANY({params.add([r.lower() for r in f.regions])})")
    return where


def _groups_where(tenant_id: UUID, f: OverviewFilter, params: SqlParams) -> tuple[str, str]:
    """The source and condition of the groups matching the filter (joined to their accounts
    only when the filter is on account attributes)."""
    source = "buying_groups g"
    if f.industries or f.regions:
        source += " JOIN accounts a ON a.tenant_id = g.tenant_id AND a.id = g.account_id"
    return source, " AND ".join(_filter_clauses(tenant_id, f, params))


SCORES = ("completeness", "engagement")


async def quantiles(conn: Connection, tenant_id: UUID, f: OverviewFilter, score: str,
                    fractions: Sequence[float]) -> list[float | None]:
    """The score's quantiles at `fractions` among the matching groups scoring above 0 (None
    each when no group is above 0)."""
    assert score in SCORES
    params = SqlParams()
    source, where = _groups_where(tenant_id, f, params)
    found = await conn.fetchval(
        f"""SELECT percentile_disc({params.add(list(fractions))}::float8[])
                   WITHIN GROUP (ORDER BY g.{score}::float8)
              FROM {source} WHERE {where} AND g.{score} > 0""", *params.values)
    return list(found) if found is not None else [None] * len(fractions)


async def band_counts(conn: Connection, tenant_id: UUID, f: OverviewFilter, score: str,
                      bounds: Sequence[float]) -> list[int]:
    """How many matching groups fall in each band of the inner boundaries `bounds`:
    [0, b1), [b1, b2), ..., [bn, ...), in one pass over them."""
    assert score in SCORES
    params = SqlParams()
    source, where = _groups_where(tenant_id, f, params)
    if not bounds:
        return [await conn.fetchval(f"SELECT count(*) FROM {source} WHERE {where}",
                                    *params.values)]
    edges = params.add([Decimal(repr(b)) for b in bounds])
    rows = await conn.fetch(
        f"""SELECT width_bucket(g.{score}, {edges}::numeric[]) AS band, count(*) AS n
              FROM {source} WHERE {where} GROUP BY 1""", *params.values)
    found = [0] * (len(bounds) + 1)
    for r in rows:
        found[r["band"]] += r["n"]
    return found
