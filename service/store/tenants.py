"""Tenants (customer workspaces)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from service.db import Connection


@dataclass(frozen=True)
class Tenant:
    id: UUID
    name: str
    time_zone: str
    created_at: datetime


async def create_tenant(conn: Connection, name: str) -> Tenant:
    """A new tenant with its starting catalogue (default roles, activity types, scoring model)."""
    row = await conn.fetchrow("INSERT INTO tenants (name) VALUES ($1) RETURNING *", name.strip())
    assert row is not None
    await conn.execute("SELECT seed_tenant($1)", row["id"])
    return Tenant(**dict(row))


async def find_tenant_by_name(conn: Connection, name: str) -> Tenant | None:
    row = await conn.fetchrow(
        "SELECT * FROM tenants WHERE name = $1 ORDER BY created_at LIMIT 1", name
    )
    return Tenant(**dict(row)) if row else None


async def get_tenant(conn: Connection, tenant_id: UUID) -> Tenant | None:
    row = await conn.fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)
    return Tenant(**dict(row)) if row else None
