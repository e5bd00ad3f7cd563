"""The bookkeeping of getting events out, per tenant: what a webhook delivery is sent to and how
its attempt went (a failing endpoint is disabled in time), and the relay's progress through the
tenant's log (with a delivery queued per matching endpoint)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from service.store import event_log, webhook_log
from service.store import webhooks as webhook_store
from service.store.webhooks import Due, Target
from service.usecases.unit_of_work import UnitOfWork


async def delivery_target(work: UnitOfWork, due: Due) -> Target | None:
    """Where and what to send; None when the endpoint or the event is gone, or the endpoint
    is disabled (then the delivery is given up without an attempt)."""
    target = await webhook_store.target(work.conn, due)
    if target is not None and not target.active:
        await webhook_store.abandon(work.conn, due, "the endpoint is disabled")
        return None
    return target


@dataclass(frozen=True)
class Outcome:
    """How one POST to an endpoint went."""
    status: int | None          # the endpoint's status code (None: no answer)
    error: str | None           # None: the endpoint took it (2xx)
    duration_ms: int
    response_head: str | None   # the answer's first bytes, where they may be shown


async def record_attempt(work: UnitOfWork, due: Due, outcome: Outcome, *,
                         retry_in: float | None, disable_after_seconds: float) -> bool:
    """How an attempt went, kept in the delivery's log; whether the endpoint was disabled
    for failing too long. A failed one is tried again in `retry_in` seconds, or given up
    (None)."""
    await webhook_log.record_attempt(
        work.conn, work.tenant_id, due.endpoint_id, due.position, status=outcome.status,
        duration_ms=outcome.duration_ms, response_head=outcome.response_head,
        error=outcome.error)
    if outcome.error is None:
        assert outcome.status is not None
        await webhook_store.delivered(work.conn, due, outcome.status)
        return False
    return await webhook_store.failed(work.conn, due, status=outcome.status,
                                      error=outcome.error, retry_in=retry_in,
                                      disable_after_seconds=disable_after_seconds)


Publish = Callable[[Sequence[asyncpg.Record]], Awaitable[None]]


async def relay_events(work: UnitOfWork, publish: Publish, batch: int) -> int:
    """Publish the tenant's committed events not yet relayed, `batch` at a time, queue their
    webhook deliveries and move the relay's position past them; how many. Another relay of the
    same tenant waits for this one (the position is claimed)."""
    tenant_id = work.tenant_id
    published = 0
    after = start = await event_log.claim_relay(work.conn, tenant_id)
    while rows := await event_log.unrelayed(work.conn, tenant_id, after, batch):
        await publish(rows)
        after = rows[-1]["position"]
        published += len(rows)
    if published:
        await webhook_store.queue_deliveries(work.conn, tenant_id, start, after)
        await event_log.mark_relayed(work.conn, tenant_id, after)
    return published
