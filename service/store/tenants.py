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


async def create_tenant(conn: Connection, name: str, time_zone: str = "UTC") -> Tenant:
    """A new tenant with its starting catalogue (default roles, activity types, scoring model)."""
    row = await conn.fetchrow("INSERT INTO tenants (name, time_zone) VALUES ($1, $2) RETURNING *",
                              name.strip(), time_zone)
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


async def set_time_zone(conn: Connection, tenant_id: UUID, time_zone: str) -> Tenant | None:
    """Change the tenant's time zone; None when PostgreSQL does not know the name (its zone
    database may lag Python's)."""
    row = await conn.fetchrow(
        """UPDATE tenants SET time_zone = $2 WHERE id = $1
              AND EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $2) RETURNING *""",
        tenant_id, time_zone)
    return Tenant(**dict(row)) if row else None
