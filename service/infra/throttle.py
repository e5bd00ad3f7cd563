"""Throttling shared by every API process through Redis: a bucket of cost points per API key
that fills at a steady rate (the leaky bucket of Shopify's API), and a count of failed
authentications per client address.

One atomic script per decision, on the server's clock: processes never disagree on the time."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

# KEYS[1] the bucket; ARGV capacity, restore rate per second, cost (negative: a refund).
# Returns {taken (1/0), points available afterwards (as text: Lua numbers are doubles)}.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local stored = redis.call('HMGET', KEYS[1], 'points', 'at')
local points = tonumber(stored[1]) or capacity
local at = tonumber(stored[2]) or now
points = math.min(capacity, points + math.max(0, now - at) * rate)
local taken = 1
if cost > points then
  taken = 0
else
  points = math.min(capacity, points - cost)
end
redis.call('HSET', KEYS[1], 'points', tostring(points), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return {taken, tostring(points)}
"""

# KEYS[1] the counter; ARGV window seconds. Returns the failures in the current window.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
return n
"""


@dataclass(frozen=True)
class Bucket:
    taken: bool
    available: float
    capacity: int
    restore_rate: float

    def retry_after(self, cost: int) -> int:
        """Whole seconds until `cost` points are available again."""
        return max(1, math.ceil((cost - self.available) / self.restore_rate))


class Throttle:
    def __init__(self, redis: Redis, capacity: int, restore_rate: float,
                 auth_failures: int, *, namespace: str, auth_window_seconds: int = 60) -> None:
        self.redis = redis
        # Deployments (and test runs) sharing a Redis keep apart, as their queues do.
        self.namespace = namespace
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.auth_failures = auth_failures
        self.auth_window = auth_window_seconds
        self._take = redis.register_script(_TAKE)
        self._fail = redis.register_script(_FAIL)
        # Addresses over their failure limit, until when (monotonic): spared a Redis call.
        self._blocked: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    async def take(self, key_id: UUID, cost: int) -> Bucket:
        """Take `cost` points from the key's bucket if it holds them (a negative cost gives
        points back, up to the capacity)."""
        taken, available = await self._take(keys=[f"{self.namespace}:throttle:{key_id}"],
                                            args=[self.capacity, self.restore_rate, cost])
        return Bucket(bool(int(taken)), float(available), self.capacity, self.restore_rate)

    def address_blocked(self, address: str) -> bool:
        until = self._blocked.get(address)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self._blocked[address]
        return False

    async def authentication_failed(self, address: str) -> bool:
        """Count a failed authentication; True when the address is now over its limit."""
        if self.auth_failures <= 0:
            return False
        failures = int(await self._fail(keys=[f"{self.namespace}:authfail:{address}"],
                                        args=[self.auth_window]))
        if failures > self.auth_failures:
            self._blocked[address] = time.monotonic() + self.auth_window
            return True
        return False
