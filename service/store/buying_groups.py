"""Buying groups and their members: set-based generation and maintenance, membership changes,
completeness kept current in the same transaction, and keyset browsing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from service.domain.conditions import PERSON_FIELDS
from service.domain.templates import Entry
from service.infra.db import Connection
from service.store.conditions_sql import compile_sql
from service.store.paging import counted_page
from service.store.people import FIELDS as PERSON_COLUMNS
from service.store.people import Person, person_from
from service.store.roles import Role, role_from_json
from service.store.row_tallies import tally_sql
from service.store.rows import converter
from service.store.sql import SqlParams, like_pattern


@dataclass(frozen=True)
class BuyingGroup:
    tenant_id: UUID
    id: UUID
    account_id: UUID
    solution_interest_id: UUID
    role_template_id: UUID
    name: str
    status: str | None
    stage_id: UUID | None
    stage_entered_at: datetime | None
    completeness: Decimal
    roles_filled: int
    roles_total: int
    completeness_computed_at: datetime | None
    engagement: Decimal
    engagement_computed_at: datetime | None
    member_count: int
    created_by_job_id: UUID | None
    filled_role_ids: list[UUID]
    created_at: datetime
    updated_at: datetime
    generated_name: bool = True  # named by the generator: follows renames


GROUP_FIELDS = [f for f in BuyingGroup.__dataclass_fields__]


group_from = converter(BuyingGroup)


@dataclass(frozen=True)
class Member:
    buying_group_id: UUID
    person_id: UUID
    role_id: UUID
    source: str
    is_removed: bool
    assigned_at: datetime
    removed_at: datetime | None


member_from = converter(Member)


# --- reading ---------------------------------------------------------------------------------


async def groups_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, BuyingGroup]:
    rows = await conn.fetch("SELECT * FROM buying_groups WHERE id = ANY($1)", ids)
    return {r["id"]: group_from(r) for r in rows}


@dataclass(frozen=True)
class MembersOfGroups:
    members: dict[UUID, list[Member]]
    people: dict[UUID, Person]
    roles: dict[UUID, Role]


# Each role of memberships comes once, with the first of them: a page's few roles would
# otherwise be encoded and decoded as JSON for every membership (most of the statement).
_ROLE_ONCE = """CASE WHEN row_number() OVER (PARTITION BY m.role_id) = 1
                     THEN (SELECT to_jsonb(r) FROM roles r
                            WHERE r.tenant_id = m.tenant_id AND r.id = m.role_id)
                END AS role_row"""


async def members_by_groups(conn: Connection, group_ids: list[UUID]) -> MembersOfGroups:
    """Every membership (removed ones too) of the groups, with their people and roles, in one
    statement."""
    rows = await conn.fetch(
        f"""SELECT m.buying_group_id, m.person_id, m.role_id, m.source, m.is_removed,
                   m.assigned_at, m.removed_at, {', '.join('p.' + c for c in PERSON_COLUMNS)},
                   {_ROLE_ONCE}
              FROM buying_group_members m
              JOIN people p ON p.tenant_id = m.tenant_id AND p.id = m.person_id
             WHERE m.buying_group_id = ANY($1)
             ORDER BY m.buying_group_id, m.is_removed, m.assigned_at, m.person_id""",
        group_ids,
    )
    result = MembersOfGroups({g: [] for g in group_ids}, {}, {})
    for row in rows:
        result.members[row["buying_group_id"]].append(member_from(row))
        result.people[row["person_id"]] = person_from(row)
        if row["role_row"] is not None:
            result.roles[row["role_id"]] = role_from_json(row["role_row"])
    return result


async def groups_by_accounts(conn: Connection, account_ids: list[UUID]
                             ) -> dict[UUID, list[BuyingGroup]]:
    rows = await conn.fetch(
        "SELECT * FROM buying_groups WHERE account_id = ANY($1) ORDER BY lower(name), id",
        account_ids,
    )
    result: dict[UUID, list[BuyingGroup]] = {a: [] for a in account_ids}
    for row in rows:
        result[row["account_id"]].append(group_from(row))
    return result


@dataclass(frozen=True)
class MembershipsOfPeople:
    members: dict[UUID, list[Member]]
    groups: dict[UUID, BuyingGroup]
    roles: dict[UUID, Role]


async def memberships_of_people(conn: Connection, person_ids: list[UUID], *, groups: bool,
                                roles: bool) -> MembershipsOfPeople:
    """Every membership of the people (as groups_of_people), with their groups and roles
    when asked for, in one statement."""
    columns = [f"m.{f}" for f in Member.__dataclass_fields__]
    joins = ""
    if groups:
        columns += [f"g.{f} AS group_{f}" for f in GROUP_FIELDS]
        joins = "JOIN buying_groups g ON g.tenant_id = m.tenant_id AND g.id = m.buying_group_id"
    if roles:
        columns.append(_ROLE_ONCE)
    # The memberships first (through their people's index), then each one's group by its key:
    # joined plainly, the planner may walk every group of the tenant to find the few.
    rows = await conn.fetch(
        f"""WITH m AS MATERIALIZED (
                SELECT * FROM buying_group_members WHERE person_id = ANY($1))
            SELECT {', '.join(columns)} FROM m {joins}
             ORDER BY m.assigned_at, m.buying_group_id""",
        person_ids,
    )
    result = MembershipsOfPeople({p: [] for p in person_ids}, {}, {})
    for row in rows:
        result.members[row["person_id"]].append(member_from(row))
        if groups:
            result.groups[row["buying_group_id"]] = _prefixed_group(row)
        if roles and row["role_row"] is not None:
            result.roles[row["role_id"]] = role_from_json(row["role_row"])
    return result


_prefixed_group = converter(BuyingGroup, prefix="group_")


async def groups_of_people(conn: Connection, person_ids: list[UUID]) -> dict[UUID, list[Member]]:
    rows = await conn.fetch(
        """SELECT * FROM buying_group_members WHERE person_id = ANY($1)
            ORDER BY assigned_at, buying_group_id""",
        person_ids,
    )
    result: dict[UUID, list[Member]] = {p: [] for p in person_ids}
    for row in rows:
        result[row["person_id"]].append(member_from(row))
    return result


# --- completeness, set-based -----------------------------------------------------------------

# Per group, correlated lookups through the members index: linear in the number of groups
# whatever the planner's statistics say (fresh tables have none while a job fills them).
_RECOMPUTE = """
UPDATE buying_groups g
   SET completeness = s.completeness, roles_filled = s.roles_filled,
       roles_total = s.roles_total, member_count = s.member_count,
       filled_role_ids = s.filled_role_ids, completeness_computed_at = now(),
       updated_at = CASE WHEN $3 OR (g.completeness, g.roles_filled, g.roles_total, g.member_count)
                                    IS DISTINCT FROM (s.completeness, s.roles_filled,
                                                      s.roles_total, s.member_count)
                         THEN now() ELSE g.updated_at END
  FROM unnest($2::uuid[]) AS ids (id)
 CROSS JOIN LATERAL (
    SELECT coalesce(100 * avg(least(r.active::numeric / r.members_required, 1))
                    FILTER (WHERE r.counts), 0) AS completeness,
           count(*) FILTER (WHERE r.counts AND r.active >= r.members_required) AS roles_filled,
           count(*) FILTER (WHERE r.counts) AS roles_total,
           coalesce(array_agg(r.role_id ORDER BY r.position)
                    FILTER (WHERE r.active >= r.members_required), '{}') AS filled_role_ids,
           (SELECT count(*) FROM buying_group_members m
             WHERE m.tenant_id = $1 AND m.buying_group_id = ids.id AND NOT m.is_removed)
               AS member_count,
           (SELECT o.completeness FROM buying_groups o WHERE o.tenant_id = $1 AND o.id = ids.id)
               AS previous
      FROM (SELECT e.role_id, e.position, e.members_required,
                   e.counts_toward_completeness AS counts,
                   (SELECT count(*) FROM buying_group_members m
                     WHERE m.tenant_id = $1 AND m.buying_group_id = ids.id
                       AND m.role_id = e.role_id AND NOT m.is_removed) AS active
              FROM buying_groups t
              JOIN role_template_entries e
                ON e.tenant_id = t.tenant_id AND e.role_template_id = t.role_template_id
             WHERE t.tenant_id = $1 AND t.id = ids.id) r
 ) s
 WHERE g.tenant_id = $1 AND g.id = ids.id
RETURNING g.id, g.solution_interest_id, s.previous, g.completeness
"""


@dataclass(frozen=True)
class ScoreChange:
    buying_group_id: UUID
    previous: Decimal
    current: Decimal
    solution_interest_id: UUID | None = None  # for the change event's filter


async def recompute_completeness(
    conn: Connection, tenant_id: UUID, group_ids: Sequence[UUID], *, touched: bool = False
) -> list[ScoreChange]:
    """Recompute completeness and member counts; `touched` marks the groups updated even when
    the numbers stay the same (a member changed role, say)."""
    if not group_ids:
        return []
    rows = await conn.fetch(_RECOMPUTE, tenant_id, list(group_ids), touched)
    return [ScoreChange(r["id"], r["previous"], r["completeness"], r["solution_interest_id"])
            for r in rows]


# --- names -----------------------------------------------------------------------------------

# The name the generator gives a group (SQL, over an interest's and an account's name).
GENERATED_NAME = "{interest} || ' for ' || {account}"


async def follow_renames(conn: Connection, tenant_id: UUID, *,
                         account_ids: Sequence[UUID] = (),
                         interest_ids: Sequence[UUID] = ()) -> int:
    """Rename the generated groups of these accounts or solution interests whose names no
    longer match; groups a user named keep their names. Returns how many were renamed."""
    if not account_ids and not interest_ids:
        return 0
    name = GENERATED_NAME.format(interest="si.name", account="a.name")
    status = await conn.execute(
        f"""UPDATE buying_groups g SET name = {name}, updated_at = now()
              FROM accounts a, solution_interests si
             WHERE g.tenant_id = $1 AND g.generated_name
               AND (g.account_id = ANY($2::uuid[]) OR g.solution_interest_id = ANY($3::uuid[]))
               AND a.tenant_id = $1 AND a.id = g.account_id
               AND si.tenant_id = $1 AND si.id = g.solution_interest_id
               AND g.name IS DISTINCT FROM {name}""",
        tenant_id, list(account_ids), list(interest_ids))
    return int(status.split()[-1])


async def rename(conn: Connection, group_id: UUID, name: str | None) -> BuyingGroup | None:
    """Give the group a name of the user's; None: the generated one again (and follow)."""
    generated = GENERATED_NAME.format(interest="si.name", account="a.name")
    row = await conn.fetchrow(
        f"""UPDATE buying_groups g SET name = coalesce($2, {generated}),
                   generated_name = $2 IS NULL, updated_at = now()
              FROM accounts a, solution_interests si
             WHERE g.id = $1 AND a.tenant_id = g.tenant_id AND a.id = g.account_id
               AND si.tenant_id = g.tenant_id AND si.id = g.solution_interest_id
         RETURNING g.*""", group_id, name)
    return group_from(row) if row else None


# --- rule-based assignment, set-based --------------------------------------------------------


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


@dataclass(frozen=True)
class ChunkResult:
    processed: int
    last_id: UUID | None
    changed: list[UUID]
    # For change events: (group, person, role, "ASSIGNED" | "REMOVED").
    member_changes: tuple[tuple[UUID, UUID, UUID, str], ...] = ()


async def create_groups_chunk(
    conn: Connection, tenant_id: UUID, *, solution_interest_id: UUID, solution_interest_name: str,
    role_template_id: UUID, entries: Sequence[Entry], audience_sql: str, params: SqlParams,
    after: UUID | None, limit: int, job_id: UUID | None, entry_stage_id: UUID | None = None,
) -> ChunkResult:
    """Create the groups of the next `limit` accounts of the audience (by account id) that have
    none for this solution interest, with their rule-assigned members; their scores are the
    caller's to settle (`service.usecases.groups.settle`)."""
    tenant = params.add(tenant_id)
    entry = params.add(entry_stage_id)
    role_case = assignment_sql(entries, params)
    after_clause = f"AND a.id > {params.add(after)}::uuid" if after else ""
    sql = f"""
WITH audience AS (
    SELECT a.id, a.name FROM accounts a
     WHERE a.tenant_id = {tenant} AND {audience_sql} {after_clause}
     ORDER BY a.id LIMIT {params.add(limit)}
),
created AS (
    INSERT INTO buying_groups (tenant_id, account_id, solution_interest_id, role_template_id,
                               name, created_by_job_id, stage_id, stage_entered_at)
    SELECT {tenant}, au.id, {params.add(solution_interest_id)}, {params.add(role_template_id)},
           {GENERATED_NAME.format(interest=params.add(solution_interest_name), account="au.name")},
           {params.add(job_id)}::uuid,
           {entry}::uuid, CASE WHEN {entry}::uuid IS NOT NULL THEN now() END
      FROM audience au
        ON CONFLICT (tenant_id, account_id, solution_interest_id) DO NOTHING
    RETURNING id, account_id, stage_id
),
entered AS (
    INSERT INTO buying_group_stage_history (tenant_id, buying_group_id, to_stage_id, changed_by)
    SELECT {tenant}, c.id, c.stage_id, 'SYSTEM' FROM created c WHERE c.stage_id IS NOT NULL
),
assigned AS (
    INSERT INTO buying_group_members (tenant_id, buying_group_id, person_id, role_id, source)
    SELECT {tenant}, c.id, x.person_id, x.role_id, 'SYSTEM'
      FROM created c
      JOIN LATERAL (SELECT p.id AS person_id, {role_case} AS role_id FROM people p
                     WHERE p.tenant_id = {tenant} AND p.account_id = c.account_id) x
        ON x.role_id IS NOT NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM audience) AS processed,
       (SELECT id FROM audience ORDER BY id DESC LIMIT 1) AS last_id,
       (SELECT coalesce(array_agg(id), '{{}}') FROM created) AS created,
       (SELECT count(*) FROM assigned) AS assigned
"""
    row = await conn.fetchrow(sql, *params.values)
    assert row is not None
    return ChunkResult(row["processed"], row["last_id"], list(row["created"]))


async def maintain_groups_chunk(
    conn: Connection, tenant_id: UUID, *, solution_interest_id: UUID, entries: Sequence[Entry],
    after: UUID | None, limit: int,
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
      JOIN LATERAL (SELECT p.id AS person_id, {role_case} AS role_id FROM people p
                     WHERE p.tenant_id = {tenant} AND p.account_id = c.account_id) x
        ON x.role_id IS NOT NULL
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
    return ChunkResult(row["processed"], row["last_id"], changed, member_changes)


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


# --- membership changes ----------------------------------------------------------------------


async def lock_group(conn: Connection, group_id: UUID) -> BuyingGroup | None:
    row = await conn.fetchrow("SELECT * FROM buying_groups WHERE id = $1 FOR UPDATE", group_id)
    return group_from(row) if row else None


async def membership(conn: Connection, group_id: UUID, person_id: UUID) -> Member | None:
    row = await conn.fetchrow(
        "SELECT * FROM buying_group_members WHERE buying_group_id = $1 AND person_id = $2",
        group_id, person_id,
    )
    return member_from(row) if row else None


async def assign_member(conn: Connection, group: BuyingGroup, person_id: UUID, role_id: UUID,
                        source: str) -> Member:
    """Write the membership row; scores are the caller's to settle, as after any change."""
    row = await conn.fetchrow(
        """INSERT INTO buying_group_members AS m
               (tenant_id, buying_group_id, person_id, role_id, source)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, buying_group_id, person_id) DO UPDATE
              SET role_id = EXCLUDED.role_id, source = EXCLUDED.source, is_removed = false,
                  removed_at = NULL,
                  assigned_at = CASE WHEN m.is_removed OR m.role_id <> EXCLUDED.role_id
                                     THEN now() ELSE m.assigned_at END
        RETURNING *""",
        group.tenant_id, group.id, person_id, role_id, source,
    )
    return member_from(row)


async def remove_member(conn: Connection, group: BuyingGroup, person_id: UUID, source: str
                        ) -> Member:
    row = await conn.fetchrow(
        """UPDATE buying_group_members SET is_removed = true, removed_at = now(), source = $3
            WHERE buying_group_id = $1 AND person_id = $2 RETURNING *""",
        group.id, person_id, source,
    )
    return member_from(row)


async def set_status(conn: Connection, group_id: UUID, status: str | None) -> BuyingGroup | None:
    row = await conn.fetchrow(
        "UPDATE buying_groups SET status = $2, updated_at = now() WHERE id = $1 RETURNING *",
        group_id, status,
    )
    return group_from(row) if row else None


async def delete_group(conn: Connection, group_id: UUID) -> bool:
    return await conn.execute("DELETE FROM buying_groups WHERE id = $1", group_id) == "DELETE 1"


# --- browsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    gt: Decimal | None = None
    gte: Decimal | None = None
    lt: Decimal | None = None
    lte: Decimal | None = None


@dataclass(frozen=True)
class GroupFilter:
    search: str | None = None
    solution_interest_ids: Sequence[UUID] = ()
    account_ids: Sequence[UUID] = ()
    stage_ids: Sequence[UUID] = ()
    missing_role_ids: Sequence[UUID] = ()
    missing_role_match: str = "ALL"  # or ANY
    completeness: Range | None = None
    engagement: Range | None = None
    statuses: Sequence[str] = ()


# Sort expression, how its cursor value is bound, and the attribute the cursor carries.
ORDERS: dict[str, tuple[str, str, str]] = {
    "NAME": ("lower(g.name)", "lower({}::text)", "name"),
    "COMPLETENESS_SCORE": ("g.completeness", "{}::numeric", "completeness"),
    "ENGAGEMENT_SCORE": ("g.engagement", "{}::numeric", "engagement"),
    "CREATED_AT": ("g.created_at", "{}::timestamptz", "created_at"),
    "UPDATED_AT": ("g.updated_at", "{}::timestamptz", "updated_at"),
}


def _range_sql(column: str, r: Range, params: SqlParams) -> list[str]:
    clauses = []
    for bound, op in ((r.gt, ">"), (r.gte, ">="), (r.lt, "<"), (r.lte, "<=")):
        if bound is not None:
            clauses.append(f"{column} {op} {params.add(bound)}::numeric")
    return clauses


def group_filter_sql(tenant_id: UUID, f: GroupFilter, params: SqlParams) -> str:
    clauses = [f"g.tenant_id = {params.add(tenant_id)}"]
    if f.search:
        clauses.append(f"g.name ILIKE {params.add(like_pattern(f.search))}")
    for values, column in ((f.solution_interest_ids, "solution_interest_id"),
                           (f.account_ids, "account_id"), (f.stage_ids, "stage_id")):
        if values:
            clauses.append(f"g.{column} = ANY({params.add(list(values))}::uuid[])")
    if f.statuses:
        clauses.append(f"lower(g.status) = ANY({params.add([s.lower() for s in f.statuses])})")
    if f.completeness:
        clauses += _range_sql("g.completeness", f.completeness, params)
    if f.engagement:
        clauses += _range_sql("g.engagement", f.engagement, params)
    if f.missing_role_ids:
        # A listed role is missing: in the template, with fewer active members than required.
        # ALL: no listed role is not missing; ANY: some listed role is.
        missing = """EXISTS (
                SELECT 1 FROM role_template_entries e
                 WHERE e.tenant_id = g.tenant_id AND e.role_template_id = g.role_template_id
                   AND e.role_id = wanted.role_id
                   AND (SELECT count(*) FROM buying_group_members m
                         WHERE m.tenant_id = g.tenant_id AND m.buying_group_id = g.id
                           AND m.role_id = e.role_id AND NOT m.is_removed)
                       < e.members_required)"""
        wanted = f"unnest({params.add(list(f.missing_role_ids))}::uuid[]) AS wanted (role_id)"
        clauses.append(f"NOT EXISTS (SELECT 1 FROM {wanted} WHERE NOT {missing})"
                       if f.missing_role_match == "ALL" else
                       f"EXISTS (SELECT 1 FROM {wanted} WHERE {missing})")
    return " AND ".join(clauses)


async def list_groups(
    conn: Connection, tenant_id: UUID, f: GroupFilter, *, order: str, descending: bool,
    limit: int, after: tuple[Any, UUID] | None,
) -> tuple[list[BuyingGroup], bool, int]:
    """A page of groups, whether more follow, and the total matching `f` (one statement unless
    the page is empty)."""
    params = SqlParams()
    where = group_filter_sql(tenant_id, f, params)
    expression, bind, _ = ORDERS[order]
    direction = "DESC" if descending else "ASC"
    def past(params: SqlParams) -> str:
        assert after is not None
        value = bind.format(params.add(after[0]))
        comparison = "<" if descending else ">"
        return f"({expression}, g.id) {comparison} ({value}, {params.add(after[1])})"

    rows, has_next, total = await counted_page(
        conn, columns="g.*", source="buying_groups g", where=where, params=params,
        after=past if after is not None else None,
        order=f"{expression} {direction}, g.id {direction}", limit=limit,
        count=tally_sql("buying_groups", "$1") if f == GroupFilter() else None)
    return [group_from(r) for r in rows], has_next, total


def sort_value(group: BuyingGroup, order: str) -> Any:
    return getattr(group, ORDERS[order][2])
