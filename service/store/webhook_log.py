"""What happened to each webhook delivery (migration 0031): its attempts, for an integrator to
debug a failing endpoint, and redelivery on request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from service.infra.db import Connection
from service.store.paging import Page, counted_page
from service.store.rows import converter
from service.store.sql import SqlParams
from service.store.webhooks import REQUEUE, wake_senders


@dataclass(frozen=True)
class Attempt:
    id: int
    endpoint_id: UUID
    position: int
    at: datetime
    status: int | None
    duration_ms: int | None
    response_head: str | None
    error: str | None


@dataclass(frozen=True)
class Delivery:
    id: str
    endpoint_id: UUID
    position: int
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    abandoned_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime


_attempt = converter(Attempt)
_delivery = converter(Delivery)
_DELIVERY = ("id, endpoint_id, position, attempts, next_attempt_at, delivered_at, abandoned_at, "
             "last_status, last_error, created_at")
# Each state as a condition on a delivery's row.
STATES = {
    "DELIVERED": "delivered_at IS NOT NULL",
    "PENDING": "delivered_at IS NULL AND abandoned_at IS NULL AND attempts = 0",
    "RETRYING": "delivered_at IS NULL AND abandoned_at IS NULL AND attempts > 0",
    "ABANDONED": "abandoned_at IS NOT NULL",
}


async def record_attempt(conn: Connection, tenant_id: UUID, endpoint_id: UUID, position: int,
                         *, status: int | None, duration_ms: int | None,
                         response_head: str | None, error: str | None) -> None:
    await conn.execute(
        """INSERT INTO webhook_attempts (tenant_id, endpoint_id, position, status, duration_ms,
                                         response_head, error)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        tenant_id, endpoint_id, position, status, duration_ms,
        response_head[:2048] if response_head is not None else None,
        error[:1000] if error is not None else None)


async def deliveries(conn: Connection, tenant_id: UUID, endpoint_id: UUID, *,
                     states: Sequence[str], limit: int, after: int | None) -> Page[Delivery]:
    """An endpoint's deliveries, newest event first, in any of `states` (none: all)."""
    params = SqlParams()
    where = [f"tenant_id = {params.add(tenant_id)}",
             f"endpoint_id = {params.add(endpoint_id)}"]
    if states:
        where.append("(" + " OR ".join(f"({STATES[s]})" for s in states) + ")")

    def past(p: SqlParams) -> str:
        assert after is not None
        return f"position < {p.add(after)}::bigint"

    rows, has_next, total = await counted_page(
        conn, columns=_DELIVERY, source="webhook_deliveries", where=" AND ".join(where),
        params=params, after=past if after is not None else None, order="position DESC",
        limit=limit)
    return Page([_delivery(r) for r in rows], has_next, total)


async def attempts_of(conn: Connection, keys: Sequence[tuple[UUID, int]]
                      ) -> dict[tuple[UUID, int], list[Attempt]]:
    """The attempts of these deliveries (endpoint, position), oldest first."""
    rows = await conn.fetch(
        """SELECT a.id, a.endpoint_id, a.position, a.at, a.status, a.duration_ms,
                  a.response_head, a.error
             FROM unnest($1::uuid[], $2::bigint[]) AS k (endpoint_id, position)
             JOIN webhook_attempts a
               ON a.endpoint_id = k.endpoint_id AND a.position = k.position
            ORDER BY a.id""",
        [k[0] for k in keys], [k[1] for k in keys])
    found: dict[tuple[UUID, int], list[Attempt]] = {k: [] for k in keys}
    for row in rows:
        found[(row["endpoint_id"], row["position"])].append(_attempt(row))
    return found


async def delivery_by_id(conn: Connection, tenant_id: UUID, delivery_id: str
                         ) -> Delivery | None:
    row = await conn.fetchrow(
        f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2 "
        "FOR UPDATE", tenant_id, delivery_id)
    return _delivery(row) if row else None


async def redeliver(conn: Connection, tenant_id: UUID, delivery: Delivery) -> Delivery:
    """Send the delivery again now (under the same webhook-id), whatever became of it."""
    row = await conn.fetchrow(
        f"""UPDATE webhook_deliveries SET {REQUEUE}
             WHERE tenant_id = $1 AND endpoint_id = $2 AND position = $3
         RETURNING {_DELIVERY}""", tenant_id, delivery.endpoint_id, delivery.position)
    await wake_senders(conn, tenant_id)
    assert row is not None
    return _delivery(row)


async def ping_target(conn: Connection, endpoint_id: UUID) -> tuple[str, str] | None:
    """An endpoint's URL and sealed signing secret, for a test event."""
    row = await conn.fetchrow(
        "SELECT url, signing_secret FROM webhook_endpoints WHERE id = $1", endpoint_id)
    return (row["url"], row["signing_secret"]) if row else None
