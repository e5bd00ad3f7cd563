"""A WebSocket connection follows its API key's life: the key is checked again before events
are delivered (an answer is reused for at most KEY_CACHE_SECONDS, and never for an event
committed after it was given) and at least every WS_KEY_CHECK_SECONDS while the socket is idle.
A revoked key's sockets are closed with 4403; a key may hold at most MAX_CONNECTIONS_PER_KEY
sockets across all API processes (4429 beyond)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from service.infra.db import Database
from service.store import api_keys as key_store

REVOKED_CLOSE_CODE = 4403
TOO_MANY_CLOSE_CODE = 4429
KEY_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class _Answer:
    live: bool
    at: datetime | None  # the database's time when it was given
    clock: float         # this process's monotonic time then

    def covers(self, occurred_at: datetime | None) -> bool:
        return (time.monotonic() - self.clock < KEY_CACHE_SECONDS and self.at is not None
                and (occurred_at is None or occurred_at <= self.at))


class KeyWatch:
    """Whether a key may still receive events, asked by every socket of the key in this
    process; the database is asked at most once at a time per key, and a thousand sockets of
    one key waiting for the same event share that one answer."""

    _answers: dict[tuple[int, UUID], _Answer] = {}
    _asking: dict[tuple[int, UUID], asyncio.Future[_Answer]] = {}

    def __init__(self, db: Database, key_id: UUID) -> None:
        self.db = db
        self.key_id = key_id
        self._key = (id(db), key_id)

    @property
    def alive(self) -> bool:
        answer = self._answers.get(self._key)
        return answer is None or answer.live

    async def live(self, occurred_at: datetime | None = None) -> bool:
        """Whether the key may still receive what occurred at `occurred_at` (None: now)."""
        answer = self._answers.get(self._key)
        if answer is not None and (not answer.live or answer.covers(occurred_at)):
            return answer.live
        asking = self._asking.get(self._key)
        if asking is not None:
            await asyncio.wait([asking])  # its failure is not ours: we then ask ourselves
            if not asking.cancelled() and asking.exception() is None:
                answer = asking.result()
                if not answer.live or answer.covers(occurred_at):
                    return answer.live
        return (await self._ask()).live

    async def _ask(self) -> _Answer:
        asking = self._asking[self._key] = asyncio.get_running_loop().create_future()
        try:
            async with self.db.system() as conn:
                live, at = await key_store.key_liveness(conn, self.key_id)
            answer = _Answer(live=live, at=at, clock=time.monotonic())
        except BaseException:
            asking.cancel()  # those waiting ask again themselves
            raise
        finally:
            if self._asking.get(self._key) is asking:
                del self._asking[self._key]
        if len(self._answers) > 10_000:  # keys long gone; a revoked one is asked again
            self._answers.clear()
        self._answers[self._key] = answer
        asking.set_result(answer)
        return answer


# KEYS[1] the key's sockets (a sorted set: member a socket, score when its entry lapses);
# ARGV lapse seconds, socket, limit. On the server's clock, as throttling is: processes never
# disagree on the time. Returns 1 when the socket is registered, 0 over the limit.
_REGISTER = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
if redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[3]) then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 1
"""


class Sockets:
    """Open sockets per key, shared by every API process; an entry lapses unless renewed, so
    a process that dies does not hold its sockets' places for long."""

    def __init__(self, redis: Redis, namespace: str, limit: int, lapse_seconds: float) -> None:
        self.redis = redis
        self.namespace = namespace
        self.limit = limit
        self.lapse = lapse_seconds
        self._register = redis.register_script(_REGISTER)

    def _key(self, key_id: UUID) -> str:
        return f"{self.namespace}:sockets:{key_id}"

    async def register(self, key_id: UUID, socket: str) -> bool:
        return bool(await self._register(keys=[self._key(key_id)],
                                         args=[self.lapse, socket, self.limit]))

    async def unregister(self, key_id: UUID, socket: str) -> None:
        with contextlib.suppress(Exception):  # Redis gone: the entry lapses by itself
            await self.redis.zrem(self._key(key_id), socket)


def new_socket_id() -> str:
    return uuid.uuid4().hex


async def close(websocket: Any, code: int, reason: str) -> None:
    """Close the socket with this code, once: the protocol handler closes a socket it was
    told to reject again (with 4403), and a second close raised in the ASGI server, logged as
    an unhandled error for every socket refused beyond the cap, while the client saw 4403."""
    with contextlib.suppress(Exception):  # the peer may be gone already
        await websocket.close(code=code, reason=reason)

    async def closed_already(code: int = 1000, reason: str | None = None) -> None:
        return None

    websocket.close = closed_already
