"""Read replicas: which server serves a tenant's read now, and how far each replica lags.

A read goes to a replica only when that replica has replayed the tenant's fence, the primary's
WAL position at or after every write of the tenant committed before the read began
(service/infra/write_notices.py places them); so whoever wrote, in this request, on this
socket, in another process or in a job, never reads from before the write. A tenant that
wrote a moment ago reads the primary until a replica has caught up; a tenant that did not
reads a replica at most REPLICA_MAX_LAG_SECONDS behind.

A monitor asks the primary for its WAL position and each replica for the position it has
replayed, ten times a second. A replica's lag is how long ago the primary was where the
replica is now (zero when it has replayed all the primary had), which does not grow while the
primary is idle as the time since the last replayed transaction would. A replica that does
not answer, lags beyond the limit or is no longer a standby is left out until it is back; a
read that finds its replica gone starts again on the primary.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import UUID

from service.infra import outages
from service.infra.db import (
    Connection,
    Database,
    Limits,
    PoolExhausted,
    close_pool,
    create_pool,
)
from service.infra.login import check_pool
from service.infra.metrics import READS, REPLICA_LAG, REPLICA_UP
from service.infra.tasks import cancel_all
from service.infra.wal import REPLAYED_POSITION, SYSTEM_IDENTIFIER, WAL_POSITION
from service.infra.write_notices import NotFollowing, WriteNotices

log = logging.getLogger(__name__)

PRIMARY = "primary"
POLL_SECONDS = 0.1
# A replica that takes longer than this to say where it is counts as not answering.
ASK_SECONDS = 2.0


def server_name(url: str) -> str:
    """host:port/database of a URL, without its login or password: a label and a log word."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}{parts.path or '/'}"


@dataclass(eq=False)
class Replica:
    name: str
    db: Database
    replayed: int = -1
    lag_seconds: float = math.inf
    up: bool = False
    refused: bool = False  # found to be another cluster's server (logged once)


def lag_seconds(history: Sequence[tuple[float, int]], replayed: int, now: float) -> float:
    """How long ago the primary was at or behind `replayed`, from its positions sampled at
    times (oldest first): zero when the replica has replayed the newest sample, at least the
    age of the oldest when it has replayed none of them."""
    if not history:
        return math.inf
    if replayed >= history[-1][1]:
        return 0.0
    behind = [at for at, position in history if position <= replayed]
    # The replica was last caught up at the newest sample it has replayed; with none replayed,
    # it is behind at least since the oldest sample.
    since = behind[-1] if behind else history[0][0]
    return max(0.0, now - since)


class Reads:
    """Where a tenant's reads go: the primary, or a replica that has caught up with it."""

    def __init__(self, primary: Database, replicas: Sequence[Replica] = (),
                 notices: WriteNotices | None = None, *, max_lag_seconds: float = 5.0,
                 poll_seconds: float = POLL_SECONDS) -> None:
        if replicas and notices is None:
            raise ValueError("replicas need the write notices to know what they must replay")
        self.primary = primary
        self.replicas = list(replicas)
        self._notices = notices
        self._max_lag = max_lag_seconds
        self._poll_seconds = poll_seconds
        # The primary's positions over the last stretch, to tell how old a replayed one is.
        keep = max(10, math.ceil(2 * max_lag_seconds / poll_seconds))
        self._history: collections.deque[tuple[float, int]] = collections.deque(maxlen=keep)
        self._next = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._cluster: int | None = None  # the primary's system identifier

    async def start(self) -> None:
        if self.replicas:
            await self.poll()  # the first reads may go to a replica already
            self._tasks = [asyncio.create_task(self._monitor(), name="replica-monitor")]

    async def stop(self) -> None:
        """Stop watching, and close the replicas' pools (the primary's is its owner's)."""
        await cancel_all(self._tasks)
        self._tasks = []
        for replica in self.replicas:
            await replica.db.drain()
            await close_pool(replica.db.pool)

    async def database(self, tenant_id: UUID) -> tuple[str, Database]:
        """The server to read the tenant from now, and its name."""
        if not self.replicas:
            return PRIMARY, self.primary
        assert self._notices is not None
        try:
            fence = await self._notices.fence(tenant_id)
        except NotFollowing:
            fence = None  # nothing heard: no replica can be trusted to have it
        if fence is not None:
            ready = [r for r in self.replicas
                     if r.up and r.replayed >= fence and r.lag_seconds <= self._max_lag]
            if ready:
                self._next += 1
                replica = ready[self._next % len(ready)]
                READS.labels("replica").inc()
                return replica.name, replica.db
        READS.labels(PRIMARY).inc()
        return PRIMARY, self.primary

    @asynccontextmanager
    async def transaction(self, tenant_id: UUID, limits: Limits | None = None
                          ) -> AsyncIterator[tuple[str, Database, Connection]]:
        """A read-only tenant transaction where `database` says, or on the primary when that
        replica turns out to be gone: (server name, its Database, the connection)."""
        name, db = await self.database(tenant_id)
        async with contextlib.AsyncExitStack() as stack:
            try:
                conn = await stack.enter_async_context(
                    db.tenant(tenant_id, readonly=True, limits=limits))
            except Exception as exc:
                if db is self.primary or not (outages.away(exc) or isinstance(
                        exc, PoolExhausted)):
                    raise
                self._lost(db, exc)
                name, db = PRIMARY, self.primary
                READS.labels(PRIMARY).inc()
                conn = await stack.enter_async_context(
                    db.tenant(tenant_id, readonly=True, limits=limits))
            yield name, db, conn

    def _lost(self, db: Database, error: BaseException) -> None:
        for replica in self.replicas:
            if replica.db is db and replica.up:
                replica.up = False
                REPLICA_UP.labels(replica.name).set(0)
                log.warning("replica %s: away (%s); reading the primary", replica.name, error)

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self.poll()
            except Exception:
                log.warning("replica monitor: the primary did not answer", exc_info=True)

    async def poll(self) -> None:
        """Ask the primary where it is and each replica what it has replayed, once."""
        async with asyncio.timeout(ASK_SECONDS):
            if self._cluster is None:
                self._cluster = int(await self.primary.fetchval(SYSTEM_IDENTIFIER))
            position = int(await self.primary.fetchval(WAL_POSITION))
        self._history.append((time.monotonic(), position))
        await asyncio.gather(*(self._ask(replica) for replica in self.replicas))

    async def _ask(self, replica: Replica) -> None:
        was_up = replica.up
        try:
            async with asyncio.timeout(ASK_SECONDS):
                replayed = await replica.db.fetchval(REPLAYED_POSITION)
                cluster = await replica.db.fetchval(SYSTEM_IDENTIFIER)
        except Exception as exc:
            replica.up = False
            if was_up:
                log.warning("replica %s: away (%s); reading the primary", replica.name, exc)
        else:
            if cluster != self._cluster:
                # Its positions say nothing about the primary's: another cluster's server.
                replica.up = False
                if was_up or not replica.refused:
                    log.error("replica %s: not a standby of DATABASE_URL's server (another "
                              "cluster); left out", replica.name)
                replica.refused = True
            elif replayed is None:
                replica.up = False
                if was_up:
                    log.warning("replica %s: no longer a standby; left out", replica.name)
            else:
                replica.replayed = int(replayed)
                replica.lag_seconds = lag_seconds(self._history, replica.replayed,
                                                  time.monotonic())
                replica.up = True
                if not was_up:
                    log.info("replica %s: serving reads", replica.name)
        REPLICA_UP.labels(replica.name).set(1 if replica.up else 0)
        REPLICA_LAG.labels(replica.name).set(
            replica.lag_seconds if math.isfinite(replica.lag_seconds) else -1)


async def open_reads(urls: Sequence[str], primary: Database, notices: WriteNotices | None, *,
                     pool_max: int, max_lag_seconds: float, allow_privileged: bool,
                     statement_cache_size: int = 100) -> Reads:
    """Reads over a pool for each replica URL. A replica that is away now is not an error (it
    is left out until it answers); one that lets the login step around row-level security is."""
    replicas = []
    for url in urls:
        # Connections are made as reads need them: a replica away at start holds nothing up.
        pool = await create_pool(url, min_size=0, max_size=pool_max,
                                 statement_cache_size=statement_cache_size)
        try:
            await check_pool(pool, allow_privileged=allow_privileged)
        except Exception as exc:
            if not outages.away(exc):
                await close_pool(pool)
                raise
            log.warning("replica %s: away at start (%s)", server_name(url), exc)
        replicas.append(Replica(server_name(url),
                                Database(pool, acquire_timeout=primary.acquire_timeout)))
    return Reads(primary, replicas, notices, max_lag_seconds=max_lag_seconds)
