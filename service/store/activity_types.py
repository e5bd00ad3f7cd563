"""The activity-type catalogue of a tenant (seeded with the defaults of docs/guide.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.infra.db import Connection
from service.store.rows import columns


@dataclass(frozen=True)
class ActivityType:
    tenant_id: UUID
    id: UUID
    name: str
    engagement_type: str
    max_daily_frequency: int
    weight: int
    source_type_id: int | None
    created_at: datetime
    updated_at: datetime
    source_type_name: str | None = None  # the source's name for it; None: `name`


def type_from(row: Any) -> ActivityType:
    return ActivityType(**columns(ActivityType, row))


async def list_activity_types(conn: Connection, tenant_id: UUID) -> list[ActivityType]:
    rows = await conn.fetch(
        "SELECT * FROM activity_types WHERE tenant_id = $1 ORDER BY lower(name), id", tenant_id
    )
    return [type_from(r) for r in rows]


async def activity_types_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, ActivityType]:
    rows = await conn.fetch("SELECT * FROM activity_types WHERE id = ANY($1)", ids)
    return {r["id"]: type_from(r) for r in rows}


async def update_activity_type(
    conn: Connection, type_id: UUID, *, weight: int | None, max_daily_frequency: int | None
) -> ActivityType | None:
    row = await conn.fetchrow(
        """UPDATE activity_types SET weight = coalesce($2, weight),
                  max_daily_frequency = coalesce($3, max_daily_frequency), updated_at = now()
            WHERE id = $1 RETURNING *""",
        type_id, weight, max_daily_frequency,
    )
    return type_from(row) if row else None


class NameTaken(Exception):
    """Another entry has this name, or already stands for this source type."""


async def create_activity_type(conn: Connection, tenant_id: UUID, *, name: str,
                               source_type_name: str | None, weight: int,
                               max_daily_frequency: int) -> ActivityType:
    """A catalogue entry for a source type the seeded catalogue does not know; the next sync
    maps it by `source_type_name` (or `name`)."""
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction goes on
            row = await conn.fetchrow(
                """INSERT INTO activity_types (tenant_id, name, engagement_type,
                                               max_daily_frequency, weight, source_type_name)
                   VALUES ($1, $2, 'Custom', $3, $4, $5) RETURNING *""",
                tenant_id, name, max_daily_frequency, weight, source_type_name)
    except asyncpg.UniqueViolationError as exc:
        raise NameTaken from exc
    return type_from(row)


async def map_source_types(conn: Connection, tenant_id: UUID, ids: list[int],
                           names: list[str]) -> int:
    """Match the source's types to the catalogue by name (an entry's source_type_name, else its
    own name); how many entries changed mapping."""
    status = await conn.execute(
        """UPDATE activity_types t SET source_type_id = s.id, updated_at = now()
             FROM unnest($2::int[], $3::text[]) AS s (id, name)
            WHERE t.tenant_id = $1
              AND lower(coalesce(t.source_type_name, t.name)) = lower(s.name)
              AND t.source_type_id IS DISTINCT FROM s.id""",
        tenant_id, ids, names)
    return int(status.split()[-1])
