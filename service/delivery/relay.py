"""The relay: publishes what the event log committed, oldest first, and queues each event's
webhook deliveries.

Every API process and worker runs one. A relay wakes when a change commits (the append's
NOTIFY, on a connection of its own) and, in case a notification was lost, sweeps for tenants
with unpublished events every few seconds. Relays of several processes take turns per tenant
on the tenant's relay row, so each event is published in order, and once unless a relay dies
between publishing and committing (subscribers drop repeats by position). Publishing and
queueing commit together with the relayed position: what is not marked relayed is done again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from uuid import UUID

import asyncpg
import orjson
from redis.asyncio import Redis

from service.events.changes import publish
from service.infra.db import Database, listen, woken
from service.infra.tasks import cancel_all
from service.store import event_log
from service.usecases import deliveries
from service.usecases.unit_of_work import Actor, unit_of_work

RELAY = Actor("RELAY")

log = logging.getLogger(__name__)

BATCH = 1000


class EventRelay:
    def __init__(self, db: Database, redis: Redis, dsn: str, *, sweep_seconds: float = 2.0,
                 batch: int = BATCH) -> None:
        self._db = db
        self._redis = redis
        self._dsn = dsn
        self._sweep_seconds = sweep_seconds
        self._batch = batch
        self._due: set[UUID] = set()
        self._sweep_due = True
        self._wake = asyncio.Event()
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._run())]
        with contextlib.suppress(TimeoutError):  # the sweep covers a slow LISTEN connection
            await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def stop(self) -> None:
        await cancel_all(self._tasks)

    def _notified(self, payload: str) -> None:
        try:
            self._due.add(UUID(payload))
        except ValueError:
            return
        self._wake.set()

    def _connected(self, _conn: object) -> None:
        self._listening.set()
        self._sweep_due = True  # whatever committed while no one listened
        self._wake.set()

    async def _listen(self) -> None:
        await listen(self._dsn, event_log.NOTIFY_CHANNEL, self._notified,
                     connected=self._connected, what="event relay")

    async def _run(self) -> None:
        next_sweep = time.monotonic()
        while True:
            await woken(self._wake, max(0.0, next_sweep - time.monotonic()))
            self._wake.clear()
            tenants, self._due = self._due, set()
            try:
                if self._sweep_due or time.monotonic() >= next_sweep:
                    self._sweep_due = False
                    next_sweep = time.monotonic() + self._sweep_seconds
                    async with self._db.system(unseen=True) as conn:
                        tenants.update(await event_log.pending_tenants(conn))
                for tenant_id in tenants:
                    await self.relay(tenant_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis or the database away: the next sweep tries again
                log.warning("event relay: could not publish; trying again", exc_info=True)
                await asyncio.sleep(min(1.0, self._sweep_seconds))

    async def relay(self, tenant_id: UUID) -> int:
        """Publish the tenant's committed events not yet relayed; how many."""
        async def send(rows: Sequence[asyncpg.Record]) -> None:
            await publish(self._redis, tenant_id,
                          [orjson.dumps(event_log.payload(row)) for row in rows])

        async with unit_of_work(self._db, tenant_id, RELAY, unseen=True) as work:
            return await deliveries.relay_events(work, send, self._batch)
