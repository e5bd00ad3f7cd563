"""Solution interests: what a buying group is about, bound to a LIVE role template for good."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.infra.db import Connection
from service.store.paging import Page, page_by_name
from service.store.rows import columns
from service.store.sql import SqlParams, like_pattern, set_clause


@dataclass(frozen=True)
class SolutionInterest:
    tenant_id: UUID
    id: UUID
    name: str
    description: str | None
    products: list[str]
    role_template_id: UUID
    stage_model_id: UUID | None
    update_existing_buying_groups: bool
    created_at: datetime
    updated_at: datetime


def interest_from(row: Any) -> SolutionInterest:
    return SolutionInterest(**columns(SolutionInterest, row))


_FIELDS = [f.name for f in fields(SolutionInterest)]
_COLUMNS = ", ".join("s." + f for f in _FIELDS)


class NameTaken(Exception):
    pass


class InUse(Exception):
    pass


async def interests_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, SolutionInterest]:
    rows = await conn.fetch("SELECT * FROM solution_interests WHERE id = ANY($1)", ids)
    return {r["id"]: interest_from(r) for r in rows}


async def interest_by_name(conn: Connection, tenant_id: UUID, name: str
                           ) -> SolutionInterest | None:
    """The solution interest of this name, compared without case (unique that way)."""
    row = await conn.fetchrow(
        "SELECT * FROM solution_interests WHERE tenant_id = $1 AND lower(name) = lower($2)",
        tenant_id, name.strip())
    return interest_from(row) if row else None


async def list_interests(
    conn: Connection, tenant_id: UUID, *, search: str | None, limit: int,
    after: tuple[str, UUID] | None,
) -> Page[SolutionInterest]:
    params = SqlParams()
    where = f"s.tenant_id = {params.add(tenant_id)}"
    if search:
        pattern = params.add(like_pattern(search))
        where += (f" AND (s.name ILIKE {pattern} OR s.description ILIKE {pattern} OR EXISTS "
                  f"(SELECT 1 FROM unnest(s.products) p WHERE p ILIKE {pattern}))")
    return await page_by_name(conn, table="solution_interests", alias="s",
                              columns=_COLUMNS, where=where,
                              params=params, convert=interest_from, limit=limit, after=after)


async def create_interest(
    conn: Connection, tenant_id: UUID, *, name: str, description: str | None,
    products: list[str], role_template_id: UUID, stage_model_id: UUID | None,
    update_existing: bool,
) -> SolutionInterest:
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                """INSERT INTO solution_interests (tenant_id, name, description, products,
                       role_template_id, stage_model_id, update_existing_buying_groups)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
                tenant_id, name, description, products, role_template_id, stage_model_id,
                update_existing,
            )
    except asyncpg.UniqueViolationError as exc:
        raise NameTaken from exc
    return interest_from(row)


async def update_interest(conn: Connection, interest_id: UUID, changes: dict[str, Any]
                          ) -> SolutionInterest | None:
    """Apply {column: value} changes (only the columns given)."""
    allowed = {"name", "description", "products", "stage_model_id",
               "update_existing_buying_groups"}
    assert set(changes) <= allowed, changes
    params = SqlParams()
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE solution_interests SET {set_clause(changes, params)} "
                f"WHERE id = {params.add(interest_id)} RETURNING *",
                *params.values,
            )
    except asyncpg.UniqueViolationError as exc:
        raise NameTaken from exc
    return interest_from(row) if row else None


async def delete_interest(conn: Connection, interest_id: UUID) -> bool:
    """Refused (InUse) while buying groups or jobs refer to it."""
    try:
        async with conn.transaction():
            result = await conn.execute("DELETE FROM solution_interests WHERE id = $1",
                                        interest_id)
    # PostgreSQL 18 reports a RESTRICT rule as its own error; older versions as a foreign key one.
    except (asyncpg.ForeignKeyViolationError, asyncpg.RestrictViolationError) as exc:
        raise InUse from exc
    return bool(result == "DELETE 1")
