"""This database's identity among the deployments that share infrastructure (migration 0034)."""

from __future__ import annotations

from uuid import UUID

from service.infra.db import Connection


async def deployment_id(conn: Connection) -> UUID:
    found: UUID = await conn.fetchval("SELECT id FROM deployment")
    return found
