"""The role catalogue: six default roles per tenant, plus custom ones, at most 20 in all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.infra.db import Connection
from service.store.rows import columns

MAX_ROLES = 20


@dataclass(frozen=True)
class Role:
    tenant_id: UUID
    id: UUID
    name: str
    description: str | None
    is_default: bool
    position: int
    created_at: datetime
    updated_at: datetime


def role_from(row: Any) -> Role:
    return Role(**columns(Role, row))


def role_from_json(data: dict[str, Any]) -> Role:
    """A role from `to_jsonb(roles row)`, as queries that bring roles along return them."""
    return Role(**{
        **columns(Role, data), "tenant_id": UUID(data["tenant_id"]), "id": UUID(data["id"]),
        "created_at": datetime.fromisoformat(data["created_at"]),
        "updated_at": datetime.fromisoformat(data["updated_at"]),
    })


_ORDER = "position, lower(name), id"


async def list_roles(conn: Connection, tenant_id: UUID) -> list[Role]:
    rows = await conn.fetch(f"SELECT * FROM roles WHERE tenant_id = $1 ORDER BY {_ORDER}",
                            tenant_id)
    return [role_from(r) for r in rows]


async def roles_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, Role]:
    rows = await conn.fetch("SELECT * FROM roles WHERE id = ANY($1)", ids)
    return {r["id"]: role_from(r) for r in rows}


async def role_by_name(conn: Connection, tenant_id: UUID, name: str) -> Role | None:
    """The role of this name, compared without case (names are unique that way)."""
    row = await conn.fetchrow(
        "SELECT * FROM roles WHERE tenant_id = $1 AND lower(name) = lower($2)",
        tenant_id, name.strip())
    return role_from(row) if row else None


class RoleNameTaken(Exception):
    pass


class RoleLimitReached(Exception):
    pass


async def create_role(conn: Connection, tenant_id: UUID, name: str, description: str | None
                      ) -> Role:
    # Serialise creations per tenant so two concurrent calls cannot both pass the limit.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('roles:' || $1::uuid::text))", tenant_id
    )
    count = await conn.fetchval("SELECT count(*) FROM roles WHERE tenant_id = $1", tenant_id)
    if count >= MAX_ROLES:
        raise RoleLimitReached
    try:
        async with conn.transaction():  # a savepoint, so a taken name leaves the caller's usable
            row = await conn.fetchrow(
                    "INSERT INTO roles (tenant_id, name, description) VALUES ($1, $2, $3) "
                "RETURNING *",
                tenant_id, name, description,
            )
    except asyncpg.UniqueViolationError as exc:
        raise RoleNameTaken from exc
    return role_from(row)


async def update_role(conn: Connection, role_id: UUID, name: str | None,
                      description: str | None, set_description: bool) -> Role | None:
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                """UPDATE roles SET name = coalesce($2, name),
                          description = CASE WHEN $3 THEN $4 ELSE description END,
                          updated_at = now()
                    WHERE id = $1 RETURNING *""",
                role_id, name, set_description, description,
            )
    except asyncpg.UniqueViolationError as exc:
        raise RoleNameTaken from exc
    return role_from(row) if row else None


async def role_in_use(conn: Connection, role_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM role_template_entries WHERE role_id = $1)", role_id
    ))


async def delete_role(conn: Connection, role_id: UUID) -> bool:
    return await conn.execute("DELETE FROM roles WHERE id = $1", role_id) == "DELETE 1"
