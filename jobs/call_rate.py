"""Staying under the activity source's call rate instead of running into it.

Marketo allows 100 REST calls per 20 seconds per instance and answers 606 beyond that; a refused
call still costs a round trip and a backoff, and every sync that reads the instance shares the
allowance — from every worker process. So before each call a sync takes a slot in a sliding
window kept in Redis, one per instance (base URL and client id), by the rule of
service/domain/call_rate.py, atomically in a script."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# A call counts from when the source receives it, a little after we start it: a margin keeps our
# window from undercounting the source's.
MARGIN_SECONDS = 0.5

# KEYS[1]: the instance's start times (a sorted set, milliseconds). ARGV: now, calls, window,
# a unique member. Returns 0 when the call may start (and records it), else how many
# milliseconds to wait before asking again.
_TAKE_SLOT = """
local now, calls, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < calls then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window))
    return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], count - calls, count - calls, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


class CallRate:
    """At most `calls` calls to one instance in any `window` seconds, across processes."""

    def __init__(self, redis: Any, base_url: str, client_id: str, calls: int,
                 window: float) -> None:
        if calls < 1 or window <= 0:
            raise ValueError("a call rate needs at least one call per positive window")
        instance = f"{base_url.rstrip('/')}|{client_id}".encode()
        self.key = f"buying-groups:activity-api-calls:{hashlib.sha256(instance).hexdigest()[:24]}"
        self.calls = calls
        self.window_ms = (window + MARGIN_SECONDS) * 1000
        self._script = redis.register_script(_TAKE_SLOT)
        self.waited = 0.0

    async def take(self, now_ms: float) -> float:
        """One attempt at a slot at `now_ms`: 0 if taken, else milliseconds to wait."""
        wait = await self._script(keys=[self.key], args=[
            repr(now_ms), self.calls, repr(self.window_ms), uuid.uuid4().hex])
        return float(wait)

    async def acquire(self) -> None:
        """Wait until a call may start, and count it as started. Without Redis the call goes
        ahead: the source's 606 answers and their backoff still hold a sync back."""
        try:
            while (wait := await self.take(time.time() * 1000)) > 0:
                self.waited += wait / 1000
                await asyncio.sleep(wait / 1000)
        except (RedisError, OSError) as exc:
            log.warning("call-rate window unavailable (%s); calling without it", exc)


def call_rate(redis: Any, base_url: str, client_id: str, calls: int,
              window: float) -> CallRate | None:
    """The instance's shared window; None without Redis or when `calls` is 0 (no limit)."""
    if redis is None or calls <= 0:
        return None
    return CallRate(redis, base_url, client_id, calls, window)
