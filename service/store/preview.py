"""A template's rules applied to an audience without writing anything: how many people each
account's group would get in each role (the assignment of service/store/group_generation.py,
read instead of inserted), and the members of a few example groups."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from service.domain.templates import Entry
from service.infra.db import Connection
from service.store.group_generation import assignment_sql, scope_sql
from service.store.sql import SqlParams


async def role_counts(conn: Connection, tenant_id: UUID, entries: Sequence[Entry], *,
                      audience_sql: str, params: SqlParams, descendants: bool
                      ) -> tuple[list[UUID], dict[UUID, dict[UUID, int]]]:
    """Every account of the audience (`audience_sql` over `a`, with its `params`), and for
    those that would get members: role → how many, in one statement."""
    tenant = params.add(tenant_id)
    role_case = assignment_sql(entries, params)
    rows = await conn.fetch(
        f"""SELECT a.id AS account_id, x.role_id, count(x.role_id) AS n
              FROM accounts a
              LEFT JOIN LATERAL (SELECT {role_case} AS role_id FROM people p
                                  WHERE p.tenant_id = {tenant}
                                    AND {scope_sql(tenant, "a.id", descendants)}) x
                ON x.role_id IS NOT NULL
             WHERE a.tenant_id = {tenant} AND {audience_sql}
             GROUP BY a.id, x.role_id""", *params.values)
    accounts: list[UUID] = []
    counts: dict[UUID, dict[UUID, int]] = {}
    seen: set[UUID] = set()
    for row in rows:
        account = row["account_id"]
        if account not in seen:
            seen.add(account)
            accounts.append(account)
        if row["role_id"] is not None:
            counts.setdefault(account, {})[row["role_id"]] = row["n"]
    return accounts, counts


async def sample_members(conn: Connection, tenant_id: UUID, entries: Sequence[Entry], *,
                         audience_sql: str, params: SqlParams, descendants: bool, limit: int
                         ) -> list[tuple[UUID, list[tuple[UUID, UUID]]]]:
    """The first `limit` accounts of the audience by name, each with the (person, role) pairs
    the rules would give its group."""
    tenant = params.add(tenant_id)
    role_case = assignment_sql(entries, params)
    rows = await conn.fetch(
        f"""WITH sample AS (
                SELECT a.id, a.name FROM accounts a
                 WHERE a.tenant_id = {tenant} AND {audience_sql}
                 ORDER BY lower(a.name), a.id LIMIT {params.add(limit)}
            )
            SELECT s.id AS account_id, x.person_id, x.role_id
              FROM sample s
              LEFT JOIN LATERAL (SELECT p.id AS person_id, p.last_name,
                                        {role_case} AS role_id
                                   FROM people p
                                  WHERE p.tenant_id = {tenant}
                                    AND {scope_sql(tenant, "s.id", descendants)}) x
                ON x.role_id IS NOT NULL
             ORDER BY lower(s.name), s.id, lower(x.last_name), x.person_id""", *params.values)
    found: dict[UUID, list[tuple[UUID, UUID]]] = {}
    for row in rows:
        members = found.setdefault(row["account_id"], [])
        if row["person_id"] is not None:
            members.append((row["person_id"], row["role_id"]))
    return list(found.items())
