"""Webhook endpoints and their deliveries (migration 0016).

A delivery is one (endpoint, event) pair: the relay queues one for every active endpoint whose
kinds match, in the transaction that marks the event relayed; the worker claims what is due,
posts it, and records the outcome. Its `id` is the webhook-id of every attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from service.infra.db import Connection
from service.store.event_log import events_at
from service.store.rows import columns

NOTIFY_CHANNEL = "bg_webhooks"


@dataclass(frozen=True)
class Endpoint:
    id: UUID
    tenant_id: UUID
    url: str
    kinds: list[str]
    description: str | None
    status: str
    consecutive_failures: int
    failing_since: datetime | None
    last_delivery_at: datetime | None
    last_error: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


_ENDPOINT = """id, tenant_id, url, kinds, description, status, consecutive_failures,
               failing_since, last_delivery_at, last_error, disabled_at, created_at, updated_at"""


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(**columns(Endpoint, row))


async def create_endpoint(conn: Connection, tenant_id: UUID, *, url: str, kinds: Sequence[str],
                          description: str | None, sealed_secret: str) -> Endpoint:
    row = await conn.fetchrow(
        f"""INSERT INTO webhook_endpoints (tenant_id, url, kinds, description, signing_secret)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_ENDPOINT}""",
        tenant_id, url, list(kinds), description, sealed_secret)
    assert row is not None
    return _endpoint(row)


async def endpoints(conn: Connection) -> list[Endpoint]:
    rows = await conn.fetch(f"SELECT {_ENDPOINT} FROM webhook_endpoints ORDER BY created_at, id")
    return [_endpoint(r) for r in rows]


async def count_endpoints(conn: Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM webhook_endpoints")
    return count


async def get_endpoint(conn: Connection, endpoint_id: UUID, *, lock: bool = False
                       ) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE id = $1"
        + (" FOR UPDATE" if lock else ""), endpoint_id)
    return _endpoint(row) if row else None


async def update_endpoint(conn: Connection, endpoint_id: UUID, *, url: str, kinds: Sequence[str],
                          description: str | None, active: bool) -> Endpoint:
    """Set the endpoint's fields; enabling a disabled one starts its failure count afresh."""
    row = await conn.fetchrow(
        f"""UPDATE webhook_endpoints
               SET url = $2, kinds = $3, description = $4,
                   status = CASE WHEN $5 THEN 'ACTIVE' ELSE 'DISABLED' END,
                   disabled_at = CASE WHEN $5 THEN NULL ELSE coalesce(disabled_at, now()) END,
                   consecutive_failures = CASE WHEN $5 AND status = 'DISABLED' THEN 0
                                               ELSE consecutive_failures END,
                   failing_since = CASE WHEN $5 AND status = 'DISABLED' THEN NULL
                                        ELSE failing_since END,
                   updated_at = now()
             WHERE id = $1 RETURNING {_ENDPOINT}""",
        endpoint_id, url, list(kinds), description, active)
    assert row is not None
    return _endpoint(row)


async def delete_endpoint(conn: Connection, endpoint_id: UUID) -> bool:
    status = await conn.execute("DELETE FROM webhook_endpoints WHERE id = $1", endpoint_id)
    return status.endswith(" 1")


_QUEUE = """
INSERT INTO webhook_deliveries (tenant_id, endpoint_id, position, id)
SELECT e.tenant_id, w.id, e.position, 'msg_' || replace(gen_random_uuid()::text, '-', '')
  FROM events e
  JOIN webhook_endpoints w
    ON w.tenant_id = e.tenant_id AND (cardinality(w.kinds) = 0 OR e.kind = ANY(w.kinds))
 WHERE e.tenant_id = $1 AND e.position > $2 AND e.position <= $3 AND {endpoints}
"""


# A delivery sent again from the start: due now, its attempts counted anew (same webhook-id).
REQUEUE = ("attempts = 0, next_attempt_at = now(), lease_expires_at = NULL, "
           "delivered_at = NULL, abandoned_at = NULL")


async def wake_senders(conn: Connection, tenant_id: UUID) -> None:
    """Tell the webhook senders, at the commit, that deliveries are due."""
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(tenant_id))


async def queue_deliveries(conn: Connection, tenant_id: UUID, after: int, upto: int) -> int:
    """A delivery per active endpoint for each event in (after, upto]; wakes the senders."""
    status = await conn.execute(
        _QUEUE.format(endpoints="w.status = 'ACTIVE'") + " ON CONFLICT DO NOTHING",
        tenant_id, after, upto)
    queued = int(status.split()[-1])
    if queued:
        await wake_senders(conn, tenant_id)
    return queued


async def replay(conn: Connection, tenant_id: UUID, endpoint_id: UUID, after: int) -> int:
    """Deliver the endpoint's events after position `after` again (under their first
    webhook-id where one was sent), whatever became of them before."""
    upto = await conn.fetchval(
        "SELECT coalesce(max(position), 0) FROM events WHERE tenant_id = $1", tenant_id)
    status = await conn.execute(
        _QUEUE.format(endpoints="w.id = $4") + """
        ON CONFLICT (tenant_id, endpoint_id, position) DO UPDATE SET """ + REQUEUE,
        tenant_id, after, upto, endpoint_id)
    queued = int(status.split()[-1])
    if queued:
        await wake_senders(conn, tenant_id)
    return queued


async def reseal_secrets(conn: Connection, reseal: Callable[[str], str]) -> int:
    """The tenant's endpoints' signing secrets, re-encrypted (`secrets rotate`); how many."""
    rows = await conn.fetch("SELECT id, signing_secret FROM webhook_endpoints FOR UPDATE")
    for row in rows:
        await conn.execute("UPDATE webhook_endpoints SET signing_secret = $2 WHERE id = $1",
                           row["id"], reseal(row["signing_secret"]))
    return len(rows)


# The sender (the claim is a system transaction; the rest happen in the tenant's own).

@dataclass(frozen=True)
class Due:
    tenant_id: UUID
    endpoint_id: UUID
    position: int
    id: str
    attempts: int


async def claim_due(conn: Connection, limit: int, lease_seconds: float) -> list[Due]:
    """Up to `limit` deliveries due now, leased to the caller (a sender that dies lets its
    lease run out, and another takes the delivery over)."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT tenant_id, endpoint_id, position FROM webhook_deliveries
                WHERE delivered_at IS NULL AND abandoned_at IS NULL AND next_attempt_at <= now()
                  AND (lease_expires_at IS NULL OR lease_expires_at < now())
                ORDER BY next_attempt_at
                LIMIT $1
                  FOR UPDATE SKIP LOCKED)
           UPDATE webhook_deliveries d
              SET lease_expires_at = now() + make_interval(secs => $2)
             FROM due
            WHERE d.tenant_id = due.tenant_id AND d.endpoint_id = due.endpoint_id
              AND d.position = due.position
        RETURNING d.tenant_id, d.endpoint_id, d.position, d.id, d.attempts""",
        limit, lease_seconds)
    return [Due(**columns(Due, r)) for r in rows]


@dataclass(frozen=True)
class Target:
    url: str
    sealed_secret: str
    active: bool
    event: asyncpg.Record


async def target(conn: Connection, due: Due) -> Target | None:
    """Where and what to send: the endpoint and the event (None: either is gone)."""
    endpoint = await conn.fetchrow(
        "SELECT url, signing_secret, status FROM webhook_endpoints WHERE id = $1",
        due.endpoint_id)
    if endpoint is None:
        return None
    events = await events_at(conn, due.tenant_id, [due.position])
    if not events:
        return None
    return Target(endpoint["url"], endpoint["signing_secret"], endpoint["status"] == "ACTIVE",
                  events[0])


async def delivered(conn: Connection, due: Due, status: int) -> None:
    await conn.execute(
        """WITH d AS (
               UPDATE webhook_deliveries
                  SET delivered_at = now(), attempts = attempts + 1, last_status = $4,
                      last_error = NULL, lease_expires_at = NULL
                WHERE tenant_id = $1 AND endpoint_id = $2 AND position = $3)
           UPDATE webhook_endpoints
              SET consecutive_failures = 0, failing_since = NULL, last_delivery_at = now(),
                  last_error = NULL
            WHERE tenant_id = $1 AND id = $2""",
        due.tenant_id, due.endpoint_id, due.position, status)


async def failed(conn: Connection, due: Due, *, status: int | None, error: str,
                 retry_in: float | None, disable_after_seconds: float) -> bool:
    """Record a failed attempt: retried in `retry_in` seconds, or given up (None). The
    endpoint is disabled once it has failed for `disable_after_seconds` without a success in
    between; whether it was."""
    row = await conn.fetchrow(
        """WITH d AS (
               UPDATE webhook_deliveries
                  SET attempts = attempts + 1, last_status = $4, last_error = $5,
                      lease_expires_at = NULL,
                      next_attempt_at = CASE WHEN $6::float8 IS NULL THEN next_attempt_at
                                             ELSE now() + make_interval(secs => $6) END,
                      abandoned_at = CASE WHEN $6::float8 IS NULL THEN now() END
                WHERE tenant_id = $1 AND endpoint_id = $2 AND position = $3)
           UPDATE webhook_endpoints
              SET consecutive_failures = consecutive_failures + 1,
                  failing_since = coalesce(failing_since, now()), last_error = $5,
                  status = CASE WHEN coalesce(failing_since, now())
                                     <= now() - make_interval(secs => $7)
                                THEN 'DISABLED' ELSE status END,
                  disabled_at = CASE WHEN status = 'ACTIVE' AND coalesce(failing_since, now())
                                          <= now() - make_interval(secs => $7)
                                     THEN now() ELSE disabled_at END
            WHERE tenant_id = $1 AND id = $2
        RETURNING status = 'DISABLED' AS disabled""",
        due.tenant_id, due.endpoint_id, due.position, status, error[:1000], retry_in,
        disable_after_seconds)
    return bool(row and row["disabled"])


async def abandon(conn: Connection, due: Due, reason: str) -> None:
    """Give a delivery up without an attempt (its endpoint is disabled)."""
    await conn.execute(
        """UPDATE webhook_deliveries
              SET abandoned_at = now(), last_error = $4, lease_expires_at = NULL
            WHERE tenant_id = $1 AND endpoint_id = $2 AND position = $3""",
        due.tenant_id, due.endpoint_id, due.position, reason)


@dataclass(frozen=True)
class Backlog:
    """Across tenants, over the deliveries kept: those still to be made (due or waiting for a
    retry), how long the oldest of them has waited (None: none), and those given up."""

    pending: int
    oldest_pending_seconds: float | None
    abandoned: int


async def backlog(conn: Connection) -> Backlog:
    """For /metrics (a system transaction)."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE delivered_at IS NULL AND abandoned_at IS NULL) AS pending,
                  extract(epoch FROM now() - min(created_at) FILTER (
                      WHERE delivered_at IS NULL AND abandoned_at IS NULL))::float8 AS age,
                  count(*) FILTER (WHERE abandoned_at IS NOT NULL) AS abandoned
             FROM webhook_deliveries""")
    assert row is not None
    return Backlog(row["pending"], row["age"], row["abandoned"])


async def lock_endpoints(conn: Connection, tenant_id: UUID) -> None:
    """Until this transaction ends, the tenant's endpoint creations wait for it: two cannot
    both pass the limit on endpoints."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('webhooks:' || $1))",
                       str(tenant_id))
