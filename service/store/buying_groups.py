"""Buying groups and their members: set-based generation and maintenance, membership changes,
completeness kept current in the same transaction, and keyset browsing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from service.infra.db import Connection
from service.store.people import FIELDS as PERSON_COLUMNS
from service.store.people import Person, person_from
from service.store.roles import Role, role_from_json
from service.store.rows import converter


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
    assigned_by: str | None  # the actor of the last assignment, move or removal (0022)


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
                   m.assigned_at, m.removed_at, m.assigned_by,
                   {', '.join('p.' + c for c in PERSON_COLUMNS)},
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
def completeness_columns(*, active: str, required: str, counts: str, role: str,
                         position: str) -> str:
    """A group's completeness, roles_filled, roles_total and filled_role_ids, aggregated over
    one row per entry of its template (SQL expressions for the entry's active members, members
    required, whether it counts, its role and its position): the one formula of a stored
    completeness, whether a group is created or recomputed."""
    filled = f"{active} >= {required}"
    return f"""coalesce(100 * avg(least({active}::numeric / {required}, 1))
                    FILTER (WHERE {counts}), 0) AS completeness,
           count(*) FILTER (WHERE {counts} AND {filled}) AS roles_filled,
           count(*) FILTER (WHERE {counts}) AS roles_total,
           coalesce(array_agg({role} ORDER BY {position}) FILTER (WHERE {filled}), '{{}}')
               AS filled_role_ids"""


# The groups of $2 (a statement scoring SOME, ONE or ALL groups) as a predicate on the groups
# table `g`: by key, even where they are joined (a join alone was planned as a scan of the
# table, in every chunk of a job, once the table had statistics).
NAMED_GROUPS = {"SOME": "g.id = ANY($2)", "ONE": "g.id = $2", "ALL": "$2::uuid[] IS NULL"}

# For each group of a FROM item `ids` (id): a LATERAL subquery `s` of its completeness columns,
# member count and previous completeness, for the statements that write a group's completeness
# after its members changed.
COMPLETENESS_OF_IDS = """
 CROSS JOIN LATERAL (
    SELECT """ + completeness_columns(active="r.active", required="r.members_required",
                                  counts="r.counts", role="r.role_id",
                                  position="r.position") + """,
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
 ) s"""


_RECOMPUTE = f"""
UPDATE buying_groups g
   SET completeness = s.completeness, roles_filled = s.roles_filled,
       roles_total = s.roles_total, member_count = s.member_count,
       filled_role_ids = s.filled_role_ids, completeness_computed_at = now(),
       updated_at = CASE WHEN $3 OR (g.completeness, g.roles_filled, g.roles_total, g.member_count)
                                    IS DISTINCT FROM (s.completeness, s.roles_filled,
                                                      s.roles_total, s.member_count)
                         THEN now() ELSE g.updated_at END
  FROM unnest($2::uuid[]) AS ids (id) {COMPLETENESS_OF_IDS}
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


async def stages_of_interest(conn: Connection, interest_id: UUID) -> list[tuple[UUID, UUID | None]]:
    """Each buying group of the solution interest with its stage, by name."""
    rows = await conn.fetch("SELECT id, stage_id FROM buying_groups "
                            "WHERE solution_interest_id = $1 ORDER BY name", interest_id)
    return [(r["id"], r["stage_id"]) for r in rows]


async def count_created_by_job(conn: Connection, tenant_id: UUID, job_id: UUID) -> int:
    """How many groups the job has created (every group carries the job that made it)."""
    return int(await conn.fetchval(
        "SELECT count(*) FROM buying_groups WHERE tenant_id = $1 AND created_by_job_id = $2",
        tenant_id, job_id))


async def groups_of_leads(conn: Connection, tenant_id: UUID, leads: Sequence[str]) -> list[UUID]:
    """The groups in which a person with one of these external ids is an active member."""
    rows = await conn.fetch(
        """SELECT DISTINCT m.buying_group_id FROM people p
             JOIN buying_group_members m
               ON m.tenant_id = p.tenant_id AND m.person_id = p.id AND NOT m.is_removed
            WHERE p.tenant_id = $1 AND p.external_id = ANY($2)""",
        tenant_id, list(leads))
    return [r["buying_group_id"] for r in rows]
