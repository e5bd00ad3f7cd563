"""API keys: stored hashed, shown once, scoped and revocable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from service.infra.auth import Principal, Scope, display_prefix, hash_api_key, new_api_key
from service.infra.db import Connection
from service.store.paging import Page, split_page
from service.store.rows import columns


@dataclass(frozen=True)
class ApiKey:
    tenant_id: UUID
    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    is_integration: bool


_COLUMNS = (
    "tenant_id, id, name, prefix, scopes, created_at, last_used_at, revoked_at, is_integration"
)


async def create_api_key(
    conn: Connection, tenant_id: UUID, name: str, scopes: set[Scope], *,
    is_integration: bool = False,
) -> tuple[ApiKey, str]:
    """Returns the stored key and its secret, which is never readable again."""
    secret = new_api_key()
    row = await conn.fetchrow(
        f"""INSERT INTO api_keys (tenant_id, name, prefix, key_hash, scopes, is_integration)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}""",
        tenant_id,
        name,
        display_prefix(secret),
        hash_api_key(secret),
        sorted(str(s) for s in scopes),
        is_integration,
    )
    assert row is not None
    return ApiKey(**columns(ApiKey, row)), secret


LAST_USED_RESOLUTION = timedelta(minutes=1)


async def live_key_tenant(conn: Connection, key_id: UUID) -> UUID | None:
    """The tenant of a key that is not revoked (a system transaction)."""
    tenant_id: UUID | None = await conn.fetchval(
        "SELECT tenant_id FROM api_keys WHERE id = $1 AND revoked_at IS NULL", key_id)
    return tenant_id


async def authenticate(conn: Connection, secret: str) -> Principal | None:
    """The principal of a live key; needs a system transaction (the tenant is not known yet).

    A read, so that authentication can go to a replica: the key's last-used time is written
    at most once a minute (LAST_USED_RESOLUTION), not on every request."""
    row = await conn.fetchrow(
        """SELECT k.tenant_id, k.id, k.scopes, k.is_integration, t.name AS tenant_name,
                  k.last_used_at IS NULL OR k.last_used_at < now() - $2::interval AS stale
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = $1 AND k.revoked_at IS NULL""",
        hash_api_key(secret), LAST_USED_RESOLUTION,
    )
    if row is None:
        return None
    if row["stale"]:
        await conn.execute(
            """UPDATE api_keys SET last_used_at = now()
                WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - $2::interval)""",
            row["id"], LAST_USED_RESOLUTION)
    return Principal(
        tenant_id=row["tenant_id"],
        tenant_name=row["tenant_name"],
        api_key_id=row["id"],
        scopes=frozenset(Scope(s) for s in row["scopes"]),
        is_integration=row["is_integration"],
        recorded_use=row["stale"],
    )


async def revoke_api_key(conn: Connection, key_id: UUID) -> ApiKey | None:
    row = await conn.fetchrow(
        f"""UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
             WHERE id = $1 RETURNING {_COLUMNS}""",
        key_id,
    )
    return ApiKey(**columns(ApiKey, row)) if row else None


async def api_keys_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, ApiKey]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ANY($1)", ids)
    return {r["id"]: ApiKey(**columns(ApiKey, r)) for r in rows}


async def list_api_keys(
    conn: Connection,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
    include_revoked: bool,
) -> Page[ApiKey]:
    where = "($1 OR revoked_at IS NULL)"
    total = await conn.fetchval(f"SELECT count(*) FROM api_keys WHERE {where}", include_revoked)
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM api_keys
             WHERE {where} AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
             ORDER BY created_at, id LIMIT $4""",
        include_revoked,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    items, has_next = split_page([ApiKey(**columns(ApiKey, r)) for r in rows], limit)
    return Page(items, has_next, total)


async def key_liveness(conn: Connection, key_id: UUID) -> tuple[bool, datetime | None]:
    """Whether the key is unrevoked, and the database's clock as it answered (None when the
    key does not exist)."""
    row = await conn.fetchrow(
        "SELECT revoked_at IS NULL AS live, now() AS at FROM api_keys WHERE id = $1", key_id)
    return (bool(row["live"]), row["at"]) if row else (False, None)
