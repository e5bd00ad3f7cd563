"""What an activity sync writes: pages of a tenant's activity with their cursor (one
transaction, so a crash loses both or neither), the mapping of the source's activity types to
the catalogue, and how the sync went."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from service.store import activities as activity_store
from service.store import activity_sync as sync_store
from service.store import activity_types as type_store
from service.store.activities import IngestResult
from service.usecases.unit_of_work import UnitOfWork


async def store_pages(work: UnitOfWork, rows: Sequence[dict[str, Any]], *, type_chunk: str,
                      next_page_token: str, rejected: int,
                      rejection: tuple[str, str | None] | None) -> IngestResult:
    """Store the pages' activities (once each, by source id) and the chunk's cursor after
    them. The commit does not wait for the disk: a commit lost in a crash takes its cursor with
    it, so the next sync fetches those activities again (twice the rate)."""
    result = await activity_store.ingest_page(work.conn, work.tenant_id, rows, durable=False)
    await sync_store.save_cursor(work.conn, work.tenant_id, type_chunk, next_page_token,
                                 result.new, rejected, rejection, result.erased)
    return result


async def map_source_types(work: UnitOfWork, types: Sequence[dict[str, Any]]) -> int:
    """Match the source's types to the catalogue by name (an entry's source_type_name, else its
    own name; unknown types are kept, unscored); how many entries changed mapping: the activity
    already stored counts differently then."""
    return await type_store.map_source_types(
        work.conn, work.tenant_id, [int(t["id"]) for t in types], [str(t["name"]) for t in types])


async def record_sync(work: UnitOfWork, *, error: str | None, cursor_at: datetime | None
                      ) -> None:
    """How the sync ended: its error (None: it succeeded) and how far the source was read."""
    await sync_store.record_sync(work.conn, work.tenant_id, error=error, cursor_at=cursor_at)
