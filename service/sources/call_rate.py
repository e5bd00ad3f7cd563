"""Staying under the activity source's call rate instead of running into it, and within a daily
budget of calls.

Marketo allows 100 REST calls per 20 seconds per instance and answers 606 beyond that; a refused
call still costs a round trip and a backoff, and every sync that reads the instance shares the
allowance — from every worker process. So before each call a sync takes a slot in a sliding
window kept in Redis, one per instance (its host and port), by the rule of
service/domain/call_rate.py, atomically in a script. The same script counts the instance's calls
per day: Marketo's daily quota (50,000 calls by default) is shared with every other integration
of the instance, and a large first sync must not use it all.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# A call counts from when the source receives it, a little after we start it: a margin keeps our
# window from undercounting the source's.
MARGIN_SECONDS = 0.5

# Marketo's quota day starts at midnight US Central time.
QUOTA_DAY = ZoneInfo("America/Chicago")

# KEYS[1]: the instance's start times (a sorted set, milliseconds); KEYS[2]: its calls today;
# KEYS[3]: set when the instance answered 607 (quota used up) today.
# ARGV: now, calls per window (0: no window), window, a unique member, daily budget (0: none).
# Returns 0 when the call may start (and records it), -1 when today's budget is spent, -2 when
# the instance's own quota is, else how many milliseconds to wait before asking again.
_TAKE_SLOT = """
local now, calls, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local budget = tonumber(ARGV[5])
if redis.call('EXISTS', KEYS[3]) == 1 then
    return -2
end
if budget > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= budget then
    return -1
end
if calls > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
    local count = redis.call('ZCARD', KEYS[1])
    if count >= calls then
        local oldest = redis.call('ZRANGE', KEYS[1], count - calls, count - calls, 'WITHSCORES')
        return tostring(tonumber(oldest[2]) + window - now)
    end
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window))
end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 172800)
return 0
"""


class BudgetSpent(Exception):
    """Today's budget of calls to the instance is used up, or the instance said its quota is."""


def instance_of(base_url: str) -> str:
    """What a source's limits belong to: its host and port (Marketo counts per instance,
    whatever path or client id reaches it)."""
    parts = urlsplit(base_url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or base_url).lower()
    return f"{host}:{port or (443 if parts.scheme == 'https' else 80)}"


class CallRate:
    """At most `calls` calls to one instance in any `window` seconds (0: no window), and at most
    `daily_budget` calls a day (0: no budget), across processes."""

    def __init__(self, redis: Any, base_url: str, calls: int,
                 window: float, daily_budget: int = 0) -> None:
        if calls < 0 or window <= 0 or daily_budget < 0:
            raise ValueError("a call rate needs a positive window and no negative limits")
        instance = instance_of(base_url).encode()
        self.key = f"buying-groups:activity-api-calls:{hashlib.sha256(instance).hexdigest()[:24]}"
        self.calls = calls
        self.window_ms = (window + MARGIN_SECONDS) * 1000
        self.daily_budget = daily_budget
        self._redis = redis
        self._script = redis.register_script(_TAKE_SLOT)
        self.waited = 0.0

    def day_key(self, now_ms: float) -> str:
        day = datetime.fromtimestamp(now_ms / 1000, QUOTA_DAY).date()
        return f"{self.key}:{day.isoformat()}"

    async def take(self, now_ms: float) -> float:
        """One attempt at a slot at `now_ms`: 0 if taken, -1 if today's budget is spent, else
        milliseconds to wait."""
        day = self.day_key(now_ms)
        wait = await self._script(keys=[self.key, day, f"{day}:quota-spent"], args=[
            repr(now_ms), self.calls, repr(self.window_ms), uuid.uuid4().hex,
            self.daily_budget])
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
            return
        if wait == -2:
            raise BudgetSpent(
                "the activity source said its daily API quota is used up (607); no call goes to "
                "it until its quota day turns at midnight US Central time")
        if wait < 0:
            raise BudgetSpent(
                f"today's budget of {self.daily_budget} calls to the activity source is used up "
                "(ACTIVITY_API_DAILY_CALLS); syncing resumes after midnight US Central time, "
                "when Marketo's quota day starts")


    async def quota_spent(self) -> None:
        """The instance answered 607: leave it alone for the rest of its quota day."""
        try:
            await self._redis.set(f"{self.day_key(time.time() * 1000)}:quota-spent", 1,
                                  ex=172800)
        except (RedisError, OSError) as exc:
            log.warning("could not remember the spent quota (%s)", exc)


def call_rate(redis: Any, base_url: str, calls: int, window: float,
              daily_budget: int = 0) -> CallRate | None:
    """The instance's shared window, day count and spent-quota mark; None without Redis."""
    if redis is None:
        return None
    return CallRate(redis, base_url, max(0, calls), window, daily_budget)
