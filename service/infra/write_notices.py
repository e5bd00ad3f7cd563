"""What PostgreSQL announces of committed writes: the version of each tenant's data.

Every statement that writes a tenant's rows announces the tenant and its transaction on the
channel `response_cache` (migration 0020), whoever sent it: the API, a job, the CLI without
Redis, a psql session. PostgreSQL delivers the notice at commit, to every listener, in commit
order; so every process that heard the same notices holds the same versions, and a cached answer
stored under a version by one process is right for all of them.

`current(tenant)` first makes a round trip on the listening connection: the server sends every
notice it holds for this session before it answers, so every write committed before the call is
in the version returned ("stale at its commit", not some delivery delay later). Calls made
while a round trip is under way share the next one. A process that lost its connection heard
nothing meanwhile: until it is back, `current` raises NotFollowing (answer uncached), and after
it every version starts from a token of this connection's own, shared with no one.

The same round trips place the tenants' fences for read replicas (`fence`): each asks the
primary for its WAL position, and every notice heard before the question was sent is of a
commit at or before the answer. A replica that has replayed a tenant's fence shows every write
of the tenant this process has heard of; a tenant noticed since the last question has no fence
yet, and reads the primary until the next answer places one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any
from uuid import UUID

from service.infra.db import listen
from service.infra.tasks import cancel_all
from service.infra.wal import WAL_POSITION

CHANNEL = "response_cache"
EVERY_TENANT = "*"  # the payload of a change to every tenant's data (retention)

log = logging.getLogger(__name__)


class NotFollowing(Exception):
    """The notices are not being heard now: no version can be trusted."""


class WriteNotices:
    def __init__(self, dsn: str, *, reconnect_seconds: float = 1.0,
                 round_trip_seconds: float = 2.0, eager_fences: bool = False) -> None:
        self._dsn = dsn
        # With replicas: a notice asks for its fence at once, not at the next lookup, so that
        # the tenant's reads go back to a replica soon after it stops writing.
        self._eager_fences = eager_fences
        self._reconnect_seconds = reconnect_seconds
        # A server that does not answer in time: the lookups waiting answer uncached rather
        # than hold their requests.
        self._round_trip_seconds = round_trip_seconds
        self._conn: Any = None
        self._epoch = ""             # this connection's own: versions from before it are void
        self._everyone = ""          # the last notice of a change to every tenant
        self._versions: dict[str, str] = {}
        # Fences: WAL positions (service/infra/replicas.lsn) at or after each tenant's last
        # write heard of; `_floor` is one for every tenant (the connection's start, retention).
        self._fences: dict[str, int] = {}
        self._floor: int | None = None
        # Notices not yet behind a fence, by tenant (EVERY_TENANT too): the count of notices
        # heard when each was heard, so that a round trip clears only what came before it.
        self._unfenced: dict[str, int] = {}
        self._heard_count = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._wanted = asyncio.Event()
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, wait_seconds: float = 5.0) -> None:
        """Follow the notices; waits a little for the connection, so that a process serves
        from its cache from its first request (it answers uncached until then)."""
        self._tasks = [asyncio.create_task(self._follow(), name="write-notices"),
                       asyncio.create_task(self._round_trips(), name="write-notices-sync")]
        await self.connected(wait_seconds)

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        self._tasks = []
        self._fail_waiters()

    async def connected(self, seconds: float) -> bool:
        """Whether the notices are heard, waiting at most `seconds` for the connection."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._connected.wait()
        return self._connected.is_set()

    async def current(self, tenant_id: UUID) -> str:
        """The tenant's version, with every write committed before this call heard."""
        if not self._connected.is_set():
            raise NotFollowing
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wanted.set()
        await waiter
        tenant = str(tenant_id)
        return f"{self._epoch}.{self._everyone}.{self._versions.get(tenant, '')}"

    async def fence(self, tenant_id: UUID) -> int | None:
        """The WAL position a replica must have replayed to show every write of the tenant
        committed before this call; None while none is placed yet (read the primary)."""
        await self.current(tenant_id)
        tenant = str(tenant_id)
        if self._floor is None or tenant in self._unfenced or EVERY_TENANT in self._unfenced:
            return None
        return max(self._floor, self._fences.get(tenant, 0))

    def _heard(self, payload: str) -> None:
        # Called (call_soon) before the round trip whose answer followed the notice resumes
        # its waiters: a notice is always in the version they read.
        tenant, _, transaction = payload.partition(":")
        if tenant == EVERY_TENANT:
            self._everyone = transaction
            self._versions.clear()
        else:
            self._versions[tenant] = transaction
        self._heard_count += 1
        self._unfenced[tenant] = self._heard_count
        if self._eager_fences:
            self._wanted.set()

    async def _follow(self) -> None:
        await listen(self._dsn, CHANNEL, self._heard, connected=self._listening,
                     disconnected=self._lost, what="write notices (answering uncached)",
                     reconnect_seconds=self._reconnect_seconds)

    def _listening(self, conn: Any) -> None:
        self._epoch, self._everyone = uuid.uuid4().hex[:12], ""
        self._versions.clear()
        self._fences.clear()
        self._floor = None  # until the first answer: every commit before it is behind it
        self._unfenced.clear()
        self._conn = conn
        self._connected.set()
        self._wanted.set()

    def _lost(self) -> None:
        self._connected.clear()
        self._conn = None
        self._fail_waiters()

    async def _round_trips(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            # Only waiters that came before this round trip is sent are released by it.
            waiters, self._waiters = self._waiters, []
            unfenced = dict(self._unfenced)
            conn = self._conn
            try:
                if conn is None:
                    raise NotFollowing
                position = int(await conn.fetchval(WAL_POSITION,
                                                   timeout=self._round_trip_seconds))
            except asyncio.CancelledError:
                self._waiters = waiters + self._waiters
                raise
            except Exception as exc:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(NotFollowing(str(exc)))
                continue
            self._place_fences(conn, unfenced, position)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _place_fences(self, conn: Any, unfenced: dict[str, int], position: int) -> None:
        if conn is not self._conn:
            return  # asked on a connection since lost: its notices are void
        if self._floor is None:
            self._floor = position
        for tenant, count in unfenced.items():
            if tenant == EVERY_TENANT:
                self._floor = position
                self._fences.clear()
            else:
                self._fences[tenant] = position
            if self._unfenced.get(tenant) == count:  # none heard during the round trip
                del self._unfenced[tenant]

    def _fail_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(NotFollowing("the connection was lost"))
