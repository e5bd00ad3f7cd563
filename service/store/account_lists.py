"""Account lists (audiences): STATIC ones hold accounts, DYNAMIC ones a filter evaluated on use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.domain.conditions import ACCOUNT_FIELDS, ConditionGroup
from service.infra.db import Connection
from service.store.conditions_sql import compile_sql
from service.store.paging import Page, page_by_name
from service.store.rows import columns
from service.store.sql import SqlParams, like_pattern, set_clause


@dataclass(frozen=True)
class AccountList:
    tenant_id: UUID
    id: UUID
    name: str
    description: str | None
    kind: str
    filter: ConditionGroup | None
    created_at: datetime
    updated_at: datetime


def list_from(row: Any) -> AccountList:
    data = columns(AccountList, row)
    data["filter"] = ConditionGroup.from_json(data["filter"]) if data["filter"] else None
    return AccountList(**data)


_FIELDS = [f.name for f in fields(AccountList)]
_COLUMNS = ", ".join("l." + f for f in _FIELDS)


class NameTaken(Exception):
    pass


def membership_sql(account_list: AccountList, params: SqlParams, alias: str = "a") -> str:
    """A SQL condition on the accounts row `alias`: is it in the list?"""
    if account_list.kind == "DYNAMIC":
        assert account_list.filter is not None
        return compile_sql(account_list.filter, ACCOUNT_FIELDS, alias, params)
    return (f"EXISTS (SELECT 1 FROM account_list_members m WHERE m.tenant_id = {alias}.tenant_id "
            f"AND m.account_list_id = {params.add(account_list.id)} "
            f"AND m.account_id = {alias}.id)")


async def lists_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, AccountList]:
    rows = await conn.fetch("SELECT * FROM account_lists WHERE id = ANY($1)", ids)
    return {r["id"]: list_from(r) for r in rows}


async def account_counts(conn: Connection, tenant_id: UUID, lists: Sequence[AccountList]
                         ) -> dict[UUID, int]:
    """How many accounts each list holds now, in one statement."""
    if not lists:
        return {}
    params = SqlParams()
    tenant = params.add(tenant_id)
    parts = [
        f"SELECT {params.add(al.id)}::uuid AS id, count(*) AS n FROM accounts a "
        f"WHERE a.tenant_id = {tenant} AND {membership_sql(al, params)}"
        for al in lists
    ]
    rows = await conn.fetch(" UNION ALL ".join(parts), *params.values)
    return {r["id"]: r["n"] for r in rows}


async def list_lists(
    conn: Connection, tenant_id: UUID, *, search: str | None, kind: str | None, limit: int,
    after: tuple[str, UUID] | None,
) -> Page[AccountList]:
    params = SqlParams()
    where = f"l.tenant_id = {params.add(tenant_id)}"
    if search:
        where += f" AND l.name ILIKE {params.add(like_pattern(search))}"
    if kind:
        where += f" AND l.kind = {params.add(kind)}"
    return await page_by_name(conn, table="account_lists", alias="l",
                              columns=_COLUMNS, where=where,
                              params=params, convert=list_from, limit=limit, after=after)


async def existing_account_ids(conn: Connection, tenant_id: UUID, ids: list[UUID]) -> set[UUID]:
    rows = await conn.fetch("SELECT id FROM accounts WHERE tenant_id = $1 AND id = ANY($2)",
                            tenant_id, ids)
    return {r["id"] for r in rows}


async def _set_members(conn: Connection, tenant_id: UUID, list_id: UUID, add: list[UUID],
                       remove: list[UUID]) -> None:
    if remove:
        await conn.execute(
            "DELETE FROM account_list_members WHERE account_list_id = $1 AND account_id = ANY($2)",
            list_id, remove,
        )
    if add:
        await conn.execute(
            """INSERT INTO account_list_members (tenant_id, account_list_id, account_id)
               SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING""",
            tenant_id, list_id, add,
        )


async def create_list(
    conn: Connection, tenant_id: UUID, *, name: str, description: str | None, kind: str,
    filter: ConditionGroup | None, account_ids: list[UUID],
) -> AccountList:
    try:
        async with conn.transaction():  # a savepoint: a taken name leaves the caller's usable
            row = await conn.fetchrow(
                """INSERT INTO account_lists (tenant_id, name, description, kind, filter)
                   VALUES ($1, $2, $3, $4, $5) RETURNING *""",
                tenant_id, name, description, kind, filter.to_json() if filter else None,
            )
    except asyncpg.UniqueViolationError as exc:
        raise NameTaken from exc
    assert row is not None
    await _set_members(conn, tenant_id, row["id"], account_ids, [])
    return list_from(row)


async def update_list(
    conn: Connection, current: AccountList, *, changes: dict[str, Any],
    replace_accounts: list[UUID] | None, add: list[UUID], remove: list[UUID],
) -> AccountList:
    params = SqlParams()
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE account_lists SET {set_clause(changes, params)} "
                f"WHERE id = {params.add(current.id)} RETURNING *",
                *params.values,
            )
    except asyncpg.UniqueViolationError as exc:
        raise NameTaken from exc
    if replace_accounts is not None:
        await conn.execute("DELETE FROM account_list_members WHERE account_list_id = $1",
                           current.id)
        add = [*replace_accounts, *add]
    await _set_members(conn, current.tenant_id, current.id, add, remove)
    return list_from(row)


async def delete_list(conn: Connection, list_id: UUID) -> bool:
    return await conn.execute("DELETE FROM account_lists WHERE id = $1", list_id) == "DELETE 1"
