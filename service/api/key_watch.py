"""A WebSocket connection follows its API key's life: the key is checked again before events
are delivered (an answer is reused for at most KEY_CACHE_SECONDS, and never for an event
committed after it was given) and at least every WS_KEY_CHECK_SECONDS while the socket is idle.
A revoked key's sockets are closed with 4403; a key may hold at most MAX_CONNECTIONS_PER_KEY
sockets across all API processes (4429 beyond)."""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from service.db import Database

REVOKED_CLOSE_CODE = 4403
TOO_MANY_CLOSE_CODE = 4429
KEY_CACHE_SECONDS = 5.0


class KeyWatch:
    def __init__(self, db: Database, key_id: UUID) -> None:
        self.db = db
        self.key_id = key_id
        self.alive = True
        self._checked_at: datetime | None = None  # the database's time of the last answer
        self._checked_clock = 0.0

    async def live(self, occurred_at: datetime | None = None) -> bool:
        """Whether the key may still receive what occurred at `occurred_at` (None: now)."""
        if not self.alive:
            return False
        recent = time.monotonic() - self._checked_clock < KEY_CACHE_SECONDS
        if recent and self._checked_at is not None and (
                occurred_at is None or occurred_at <= self._checked_at):
            return True
        async with self.db.system() as conn:
            row = await conn.fetchrow(
                "SELECT revoked_at IS NULL AS live, now() AS at FROM api_keys WHERE id = $1",
                self.key_id)
        self._checked_clock = time.monotonic()
        self._checked_at = row["at"] if row else None
        self.alive = bool(row and row["live"])
        return self.alive


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
    with contextlib.suppress(Exception):  # the peer may be gone already
        await websocket.close(code=code, reason=reason)
