"""Tenants (customer workspaces)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from service.infra.db import Connection
from service.store.rows import columns


@dataclass(frozen=True)
class Tenant:
    id: UUID
    name: str
    time_zone: str
    created_at: datetime


class TenantNameTaken(Exception):
    """Another tenant has this name (compared without case, migration 0026)."""


async def create_tenant(conn: Connection, name: str, time_zone: str = "UTC",
                        tenant_id: UUID | None = None) -> Tenant:
    """A new tenant with its starting catalogue (default roles, activity types, scoring model).

    The service creates one in a transaction already bound to its new id (row-level security
    lets a tenant transaction create only its own tenant: service/usecases/tenants.py); the
    owner's tools may leave the id to the database."""
    try:
        row = await conn.fetchrow(
            "INSERT INTO tenants (id, name, time_zone) "
            "VALUES (coalesce($3, gen_random_uuid()), $1, $2) RETURNING *",
            name.strip(), time_zone, tenant_id)
    except asyncpg.UniqueViolationError as exc:
        raise TenantNameTaken(name.strip()) from exc
    assert row is not None
    await conn.execute("SELECT seed_tenant($1)", row["id"])
    return Tenant(**columns(Tenant, row))


async def tenant_ids(conn: Connection) -> list[UUID]:
    """Every tenant, oldest first (a system transaction)."""
    return [r["id"] for r in await conn.fetch("SELECT id FROM tenants ORDER BY created_at, id")]


async def find_tenant_by_name(conn: Connection, name: str) -> Tenant | None:
    row = await conn.fetchrow(
        "SELECT * FROM tenants WHERE name = $1 ORDER BY created_at LIMIT 1", name
    )
    return Tenant(**columns(Tenant, row)) if row else None


async def get_tenant(conn: Connection, tenant_id: UUID) -> Tenant | None:
    row = await conn.fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)
    return Tenant(**columns(Tenant, row)) if row else None


async def set_time_zone(conn: Connection, tenant_id: UUID, time_zone: str) -> Tenant | None:
    """Change the tenant's time zone; None when PostgreSQL does not know the name (its zone
    database may lag Python's)."""
    row = await conn.fetchrow(
        """UPDATE tenants SET time_zone = $2 WHERE id = $1
              AND EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $2) RETURNING *""",
        tenant_id, time_zone)
    return Tenant(**columns(Tenant, row)) if row else None


async def tenant_names(conn: Connection) -> list[tuple[UUID, str]]:
    """Every tenant's id and name, oldest first (the system role's read)."""
    rows = await conn.fetch("SELECT id, name FROM tenants ORDER BY created_at")
    return [(r["id"], r["name"]) for r in rows]


# In an order no foreign key refuses (some restrict deletes: a solution interest while groups
# or jobs use it); deleting the tenant's own row then cascades to the rest. The tallies have no
# key to cascade by, and the deletes above wrote deltas to them: they go last.
_DELETE_ORDER = ("buying_groups", "jobs", "alert_rules", "solution_interests", "role_templates",
                 "stage_models", "people", "account_lists", "accounts", "activities",
                 "activity_daily")
_DELETE_LAST = ("activity_tallies", "activity_tally_deltas", "buying_group_tallies",
                "row_tallies")


async def delete_tenant(conn: Connection, tenant_id: UUID) -> bool:
    """Every row of the tenant, in its own transaction (row-level security keeps each delete to
    it); False when there is no such tenant."""
    for table in _DELETE_ORDER:
        await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant_id)
    gone = await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
    for table in _DELETE_LAST:
        await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant_id)
    return gone.endswith(" 1")
