"""Generating and maintaining a solution interest's buying groups, a chunk of accounts at a time:
one group per account of the audience, members assigned by the template's rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from service.domain.conditions import PERSON_FIELDS
from service.domain.templates import WEIGHTINGS, Entry
from service.infra.db import Connection
from service.store.buying_groups import GENERATED_NAME, completeness_columns
from service.store.conditions_sql import compile_sql
from service.store.engagement import (
    DAY_POINTS100,
    ScoringInputs,
    engagement_sql,
    scored_source_types,
)
from service.store.sql import SqlParams


def assignment_sql(entries: Sequence[Entry], params: SqlParams, alias: str = "p") -> str:
    """A SQL expression giving the role a person row gets: the first entry whose conditions
    match, or NULL. Entries without conditions are assigned by hand only."""
    branches = [
        f"WHEN {compile_sql(e.conditions, PERSON_FIELDS, alias, params)} "
        f"THEN {params.add(e.role_id)}::uuid"
        for e in entries
        if e.conditions is not None
    ]
    return f"(CASE {' '.join(branches)} END)" if branches else "NULL::uuid"


def scope_sql(tenant: str, account: str, descendants: bool) -> str:
    """A condition on a person row `p`: of the account (an SQL expression), or with
    `descendants` of it or any of its sub-accounts (the template's member scope)."""
    if not descendants:
        return f"p.account_id = {account}"
    return f"""p.account_id IN (
        WITH RECURSIVE sub (id, depth) AS (
            SELECT {account}, 0
            UNION ALL
            SELECT a.id, sub.depth + 1 FROM accounts a JOIN sub
                ON a.tenant_id = {tenant} AND a.parent_id = sub.id
             WHERE sub.depth < 1000)
        SELECT id FROM sub)"""


def rule_members(role_case: str, tenant: str, account: str, descendants: bool) -> str:
    """A LATERAL join, as `x` (person_id, lead_id, role_id), of the people in the member scope
    of the account (an SQL expression) that a role's rules pick (`role_case`, from
    assignment_sql): the same choice for creating groups and for maintaining them."""
    return f"""JOIN LATERAL (SELECT p.id AS person_id, p.external_id AS lead_id,
                            {role_case} AS role_id FROM people p
                     WHERE p.tenant_id = {tenant}
                       AND {scope_sql(tenant, account, descendants)}) x
        ON x.role_id IS NOT NULL"""


def engagement_points(inputs: ScoringInputs, template_id: UUID, tenant: str, members: str,
                      params: SqlParams) -> tuple[str, str]:
    """Engagement where the groups are made: a CTE body giving per account (`account_id`) its
    members' weighted points (`weighted100`), from `members` (account_id, lead_id, role_id),
    and the expression of the engagement from them (`p`); the same sums as the rescoring's,
    one member at a time through the rollup's (tenant, lead) key, whatever the statistics."""
    ids, factors, caps = scored_source_types(inputs)
    weights = [(role, WEIGHTINGS[w]) for t, role, w in inputs.role_weightings if t == template_id]
    start, end = inputs.window
    points = f"""
    SELECT x.account_id, sum(w.value * a.points100) AS weighted100
      FROM {members} x
      JOIN unnest({params.add([r for r, _ in weights])}::uuid[],
                  {params.add([v for _, v in weights])}::int[]) AS w (role_id, value)
        ON w.role_id = x.role_id
      JOIN LATERAL (
          SELECT sum({DAY_POINTS100}) AS points100
            FROM activity_daily d
            JOIN unnest({params.add(ids)}::int[], {params.add(factors)}::int[],
                        {params.add(caps)}::int[]) AS s (source_type_id, factor100, cap)
              ON s.source_type_id = d.source_type_id
           WHERE d.tenant_id = {tenant} AND d.lead_id = x.lead_id
             AND d.day BETWEEN {params.add(start)} AND {params.add(end)}) a ON true
     GROUP BY x.account_id"""
    total = inputs.weighting_totals.get(template_id)  # None: no role weighs, no points, 0
    return points, engagement_sql("p.weighted100", f"{params.add(total)}::int")


@dataclass(frozen=True)
class ChunkResult:
    processed: int
    last_id: UUID | None
    changed: list[UUID]
    assigned: int = 0  # members written (CREATE)
    # For change events: (group, person, role, "ASSIGNED" | "REMOVED").
    member_changes: tuple[tuple[UUID, UUID, UUID, str], ...] = ()


async def create_groups_chunk(
    conn: Connection, tenant_id: UUID, *, solution_interest_id: UUID, solution_interest_name: str,
    role_template_id: UUID, entries: Sequence[Entry], audience_sql: str, params: SqlParams,
    after: UUID | None, limit: int, job_id: UUID | None, inputs: ScoringInputs,
    entry_stage_id: UUID | None = None, descendants: bool = False,
) -> ChunkResult:
    """Create the groups of the next `limit` accounts of the audience (by account id) that have
    none for this solution interest, with their rule-assigned members, their completeness (as
    `buying_groups.recompute_completeness` computes it) and their engagement (as the
    rescoring does, from `inputs`), and the day's snapshot of both, in this statement: a
    second write of every new row cost as much as the first. The stage entry rules are the
    caller's to apply."""
    tenant = params.add(tenant_id)
    entry = params.add(entry_stage_id)
    template = params.add(role_template_id)
    role_case = assignment_sql(entries, params)
    after_clause = f"AND a.id > {params.add(after)}::uuid" if after else ""
    points, engagement = engagement_points(inputs, role_template_id, tenant, "candidates",
                                           params)
    sql = f"""
WITH audience AS (
    SELECT a.id, a.name FROM accounts a
     WHERE a.tenant_id = {tenant} AND {audience_sql} {after_clause}
     ORDER BY a.id LIMIT {params.add(limit)}
),
candidates AS MATERIALIZED (
    SELECT au.id AS account_id, x.person_id, x.lead_id, x.role_id
      FROM audience au
      {rule_members(role_case, tenant, "au.id", descendants)}
),
filled AS (
    SELECT account_id, role_id, count(*) AS active FROM candidates GROUP BY 1, 2
),
points AS MATERIALIZED ({points}
),
-- Materialized: planned from the statistics of a tenant that has just grown (an audience of
-- one account, say), an inlined `scores` was run again for every account (a chunk of 1,000
-- took 292 s instead of 0.2 on PostgreSQL 18).
scores AS MATERIALIZED (
    SELECT au.id AS account_id,
           {completeness_columns(active="coalesce(f.active, 0)", required="e.members_required",
                                 counts="e.counts_toward_completeness", role="e.role_id",
                                 position="e.position")},
           -- Every candidate holds one of the template's roles, each role one entry.
           coalesce(sum(f.active), 0) AS member_count
      FROM audience au
      JOIN role_template_entries e ON e.tenant_id = {tenant} AND e.role_template_id = {template}
      LEFT JOIN filled f ON f.account_id = au.id AND f.role_id = e.role_id
     GROUP BY au.id
),
created AS (
    INSERT INTO buying_groups (tenant_id, account_id, solution_interest_id, role_template_id,
                               name, created_by_job_id, stage_id, stage_entered_at,
                               completeness, roles_filled, roles_total, filled_role_ids,
                               member_count, completeness_computed_at, engagement,
                               engagement_computed_at)
    SELECT {tenant}, au.id, {params.add(solution_interest_id)}, {template},
           {GENERATED_NAME.format(interest=params.add(solution_interest_name), account="au.name")},
           {params.add(job_id)}::uuid,
           {entry}::uuid, CASE WHEN {entry}::uuid IS NOT NULL THEN now() END,
           coalesce(s.completeness, 0), coalesce(s.roles_filled, 0), coalesce(s.roles_total, 0),
           coalesce(s.filled_role_ids, '{{}}'), coalesce(s.member_count, 0), now(),
           {engagement}, now()
      FROM audience au LEFT JOIN scores s ON s.account_id = au.id
      LEFT JOIN points p ON p.account_id = au.id
        ON CONFLICT (tenant_id, account_id, solution_interest_id) DO NOTHING
    RETURNING id, account_id, stage_id, completeness, engagement
),
snapshots AS (
    INSERT INTO buying_group_score_history (tenant_id, buying_group_id, day, completeness,
                                            engagement)
    SELECT {tenant}, c.id, {params.add(inputs.today)}::date, c.completeness, c.engagement
      FROM created c
),
entered AS (
    INSERT INTO buying_group_stage_history (tenant_id, buying_group_id, to_stage_id, changed_by)
    SELECT {tenant}, c.id, c.stage_id, 'SYSTEM' FROM created c WHERE c.stage_id IS NOT NULL
),
assigned AS (
    INSERT INTO buying_group_members (tenant_id, buying_group_id, person_id, role_id, source)
    SELECT {tenant}, c.id, x.person_id, x.role_id, 'SYSTEM'
      FROM created c JOIN candidates x ON x.account_id = c.account_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM audience) AS processed,
       (SELECT id FROM audience ORDER BY id DESC LIMIT 1) AS last_id,
       (SELECT coalesce(array_agg(id), '{{}}') FROM created) AS created,
       (SELECT count(*) FROM assigned) AS assigned
"""
    row = await conn.fetchrow(sql, *params.values)
    assert row is not None
    return ChunkResult(row["processed"], row["last_id"], list(row["created"]), row["assigned"])


async def maintain_groups_chunk(
    conn: Connection, tenant_id: UUID, *, solution_interest_id: UUID, entries: Sequence[Entry],
    after: UUID | None, limit: int, descendants: bool = False,
) -> ChunkResult:
    """Re-apply the template's rules to the next `limit` groups of the solution interest:
    add newly matching people, move or remove SYSTEM members that no longer match. Rows a user
    (MANUAL) or an integration (API) set are left as they are, removed ones included. The
    changed groups' scores are the caller's to settle (`service.usecases.groups.settle`)."""
    params = SqlParams()
    tenant = params.add(tenant_id)
    role_case = assignment_sql(entries, params)
    after_clause = f"AND g.id > {params.add(after)}::uuid" if after else ""
    sql = f"""
WITH chunk AS (
    SELECT g.id, g.account_id FROM buying_groups g
     WHERE g.tenant_id = {tenant} AND g.solution_interest_id = {params.add(solution_interest_id)}
           {after_clause}
     ORDER BY g.id LIMIT {params.add(limit)}
),
desired AS (
    SELECT c.id AS group_id, x.person_id, x.role_id
      FROM chunk c
      {rule_members(role_case, tenant, "c.account_id", descendants)}
),
-- The chunk's members as they are, read through the groups' key: what the desired members are
-- checked against. Checked against the table itself, the check became a hash of every member
-- of the table once the planner had statistics (each chunk reading the whole table: a job
-- growing with the square of the tenant), or, looked up a row at a time, cost a subplan call
-- per desired member.
current AS MATERIALIZED (
    SELECT m.buying_group_id, m.person_id, m.source, m.is_removed, m.role_id
      FROM chunk c JOIN buying_group_members m
        ON m.tenant_id = {tenant} AND m.buying_group_id = c.id
),
removed AS (
    UPDATE buying_group_members m SET is_removed = true, removed_at = now()
      FROM chunk c
     WHERE m.tenant_id = {tenant} AND m.buying_group_id = c.id AND m.source = 'SYSTEM'
       AND NOT m.is_removed
       AND NOT EXISTS (SELECT 1 FROM desired d
                        WHERE d.group_id = m.buying_group_id AND d.person_id = m.person_id)
    RETURNING m.buying_group_id, m.person_id, m.role_id, 'REMOVED' AS change
),
upserted AS (
    INSERT INTO buying_group_members AS m (tenant_id, buying_group_id, person_id, role_id, source)
    SELECT {tenant}, d.group_id, d.person_id, d.role_id, 'SYSTEM' FROM desired d
     -- Only rows that will change: ON CONFLICT locks every row it meets, even one its WHERE
     -- then leaves alone (a WAL record and a dirtied page per unchanged member).
     WHERE NOT EXISTS (
           SELECT 1 FROM current o
            WHERE o.buying_group_id = d.group_id AND o.person_id = d.person_id
              AND (o.source <> 'SYSTEM' OR (NOT o.is_removed AND o.role_id = d.role_id)))
        ON CONFLICT (tenant_id, buying_group_id, person_id) DO UPDATE
       SET role_id = EXCLUDED.role_id, is_removed = false, removed_at = NULL, assigned_at = now()
     WHERE m.source = 'SYSTEM' AND (m.is_removed OR m.role_id <> EXCLUDED.role_id)
    RETURNING m.buying_group_id, m.person_id, m.role_id, 'ASSIGNED' AS change
),
changes AS (SELECT * FROM removed UNION ALL SELECT * FROM upserted)
SELECT (SELECT count(*) FROM chunk) AS processed,
       (SELECT id FROM chunk ORDER BY id DESC LIMIT 1) AS last_id,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(buying_group_id, person_id, role_id,
                                                    change)), '[]')
          FROM changes) AS changes
"""
    row = await conn.fetchrow(sql, *params.values)
    assert row is not None
    member_changes = tuple((UUID(g), UUID(p), UUID(r), c) for g, p, r, c in row["changes"])
    changed = sorted({g for g, _, _, _ in member_changes})
    return ChunkResult(row["processed"], row["last_id"], changed, member_changes=member_changes)


async def count_audience(conn: Connection, tenant_id: UUID, audience_sql: str,
                         params: SqlParams) -> int:
    tenant = params.add(tenant_id)
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM accounts a WHERE a.tenant_id = {tenant} AND {audience_sql}",
        *params.values,
    )
    return count


async def count_groups(conn: Connection, tenant_id: UUID, solution_interest_id: UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM buying_groups WHERE tenant_id = $1 AND solution_interest_id = $2",
        tenant_id, solution_interest_id,
    )
    return count


async def analyze_if_grown(conn: Connection, groups: int, members: int) -> bool:
    """Fresh planner statistics of groups, members or both when a job's writes (`groups` and
    `members` rows) grew the table by a tenth (migration 0040): a job writes faster than
    autovacuum analyzes. Whether it analyzed."""
    return bool(await conn.fetchval("SELECT analyze_groups_if_grown($1, $2)", groups, members))
