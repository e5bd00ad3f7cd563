"""What a tenant's activity sync keeps: its source's settings, the cursors of its pages, its state
and errors, and the health figures /metrics reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from service.infra.db import Connection


async def save_cursor(conn: Connection, tenant_id: UUID, type_chunk: str, token: str,
                      stored: int, rejected: int = 0,
                      rejection: tuple[str, str | None] | None = None,
                      erased: int = 0) -> None:
    """The chunk's cursor after a write, and the tenant's tallies of activities stored and
    rejected, all in the write's transaction: a crash loses none without the others. The tally
    row is locked only from here to the commit, so writers of different chunks hardly wait on
    each other."""
    reason, example = rejection if rejection is not None else (None, None)
    await conn.execute(
        """WITH saved AS (
               INSERT INTO activity_sync_cursors (tenant_id, type_chunk, next_page_token)
               VALUES ($1, $2, $3)
               ON CONFLICT (tenant_id, type_chunk)
               DO UPDATE SET next_page_token = EXCLUDED.next_page_token, updated_at = now())
           INSERT INTO activity_sync_state AS s (tenant_id, activities_ingested,
                  activities_rejected, last_rejection_reason, last_rejection_source_id,
                  last_rejection_at, activities_of_erased)
           SELECT $1, $4::bigint, $5::bigint, $6::text, $7::text,
                  CASE WHEN $6::text IS NOT NULL THEN now() END, $8::bigint
            WHERE $4::bigint > 0 OR $5::bigint > 0 OR $8::bigint > 0
           ON CONFLICT (tenant_id)
           DO UPDATE
              SET activities_ingested = s.activities_ingested + EXCLUDED.activities_ingested,
                  activities_rejected = s.activities_rejected + EXCLUDED.activities_rejected,
                  activities_of_erased = s.activities_of_erased + EXCLUDED.activities_of_erased,
                  last_rejection_reason = coalesce(EXCLUDED.last_rejection_reason,
                                                   s.last_rejection_reason),
                  last_rejection_source_id = CASE WHEN EXCLUDED.last_rejection_reason IS NULL
                      THEN s.last_rejection_source_id ELSE EXCLUDED.last_rejection_source_id END,
                  last_rejection_at = coalesce(EXCLUDED.last_rejection_at, s.last_rejection_at)""",
        tenant_id, type_chunk, token, stored, rejected, reason, example, erased,
    )


async def reset_cursors(conn: Connection, tenant_id: UUID) -> None:
    """Forget where each chunk stopped: the next sync starts from the scoring window again
    (what is already stored is not stored twice)."""
    await conn.execute("DELETE FROM activity_sync_cursors WHERE tenant_id = $1", tenant_id)


async def load_cursor(conn: Connection, tenant_id: UUID, type_chunk: str) -> str | None:
    token: str | None = await conn.fetchval(
        "SELECT next_page_token FROM activity_sync_cursors WHERE tenant_id = $1 "
        "AND type_chunk = $2", tenant_id, type_chunk)
    return token


async def record_sync(conn: Connection, tenant_id: UUID, *, error: str | None,
                      cursor_at: datetime | None) -> None:
    await conn.execute(
        """INSERT INTO activity_sync_state AS s (tenant_id, last_run_at, last_success_at,
                                                 cursor_at, last_error)
           VALUES ($1, now(), CASE WHEN $2::text IS NULL THEN now() END, $3, $2)
           ON CONFLICT (tenant_id) DO UPDATE
              SET last_run_at = now(),
                  last_success_at = CASE WHEN $2::text IS NULL THEN now()
                                         ELSE s.last_success_at END,
                  cursor_at = greatest(s.cursor_at, EXCLUDED.cursor_at),
                  last_error = $2, updated_at = now()""",
        tenant_id, error, cursor_at,
    )


@dataclass(frozen=True)
class Rejection:
    reason: str
    source_id: str | None
    at: datetime


@dataclass(frozen=True)
class SyncState:
    last_run_at: datetime | None
    last_success_at: datetime | None
    cursor_at: datetime | None
    last_error: str | None
    activities_ingested: int
    activities_rejected: int = 0
    last_rejection: Rejection | None = None
    activities_of_erased: int = 0


async def sync_state(conn: Connection, tenant_id: UUID) -> SyncState:
    row = await conn.fetchrow("SELECT * FROM activity_sync_state WHERE tenant_id = $1",
                              tenant_id)
    if row is None:
        return SyncState(None, None, None, None, 0)
    rejection = None
    if row["last_rejection_reason"] is not None:
        rejection = Rejection(row["last_rejection_reason"], row["last_rejection_source_id"],
                              row["last_rejection_at"])
    return SyncState(row["last_run_at"], row["last_success_at"], row["cursor_at"],
                     row["last_error"], row["activities_ingested"],
                     row["activities_rejected"], rejection, row["activities_of_erased"])


@dataclass(frozen=True)
class SyncHealth:
    """Every tenant's syncs at a glance, for monitoring."""
    activities_ingested: int
    activities_rejected: int
    tenants_ok: int
    tenants_failing: int
    oldest_success_age_seconds: float | None


async def sync_health(conn: Connection) -> SyncHealth:
    """Across tenants: a system connection."""
    row = await conn.fetchrow(
        """SELECT coalesce(sum(activities_ingested), 0) AS ingested,
                  coalesce(sum(activities_rejected), 0) AS rejected,
                  count(*) FILTER (WHERE last_error IS NULL AND last_run_at IS NOT NULL) AS ok,
                  count(*) FILTER (WHERE last_error IS NOT NULL) AS failing,
                  extract(epoch FROM now() - min(last_success_at))::float8 AS age
             FROM activity_sync_state""")
    assert row is not None
    return SyncHealth(int(row["ingested"]), int(row["rejected"]), row["ok"], row["failing"],
                      row["age"])


@dataclass(frozen=True)
class SourceSettings:
    """A tenant's own activity source; None fields fall back to the service's settings."""
    base_url: str | None
    client_id: str | None
    client_secret: str | None
    activity_type_ids: list[int] | None


async def source_settings(conn: Connection, tenant_id: UUID) -> SourceSettings:
    row = await conn.fetchrow("SELECT * FROM activity_sources WHERE tenant_id = $1", tenant_id)
    if row is None:
        return SourceSettings(None, None, None, None)
    return SourceSettings(row["base_url"], row["client_id"], row["client_secret"],
                          list(row["activity_type_ids"]) if row["activity_type_ids"] else None)


async def configure_source(conn: Connection, tenant_id: UUID, settings: SourceSettings) -> None:
    """Point the tenant at a source. A None secret keeps the stored one only while the URL and
    client id stay the same: a secret is only ever sent where it was given. A new source has its
    own paging, so the cursors are forgotten."""
    await conn.execute(
        """INSERT INTO activity_sources (tenant_id, base_url, client_id, client_secret,
                                         activity_type_ids)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id) DO UPDATE
              SET base_url = EXCLUDED.base_url, client_id = EXCLUDED.client_id,
                  client_secret = CASE
                      WHEN EXCLUDED.client_secret IS NOT NULL THEN EXCLUDED.client_secret
                      WHEN activity_sources.base_url = EXCLUDED.base_url
                       AND activity_sources.client_id = EXCLUDED.client_id
                      THEN activity_sources.client_secret END,
                  activity_type_ids = EXCLUDED.activity_type_ids, updated_at = now()""",
        tenant_id, settings.base_url, settings.client_id, settings.client_secret,
        settings.activity_type_ids)
    await reset_cursors(conn, tenant_id)


async def reseal_secret(conn: Connection, tenant_id: UUID,
                        reseal: Callable[[str], str]) -> bool:
    """The tenant's stored client secret, re-encrypted (`secrets rotate`); whether it had one."""
    secret = await conn.fetchval("SELECT client_secret FROM activity_sources "
                                 "WHERE tenant_id = $1 FOR UPDATE", tenant_id)
    if secret is None:
        return False
    await conn.execute("UPDATE activity_sources SET client_secret = $2 WHERE tenant_id = $1",
                       tenant_id, reseal(secret))
    return True
