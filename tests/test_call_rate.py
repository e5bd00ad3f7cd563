"""The connector's call-rate window (Marketo: 100 calls per 20 s per instance): the rule, and the
Redis script every worker process shares, which must follow it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from service.domain.call_rate import next_start
from service.sources.call_rate import BudgetSpent, CallRate


def test_calls_within_the_limit_start_at_once() -> None:
    assert next_start([0.0, 1.0], 2.0, calls=3, window=10) == 2.0
    assert next_start([0.0, 1.0, 2.0], 10.0, calls=3, window=10) == 10.0  # 0.0 just left


def test_a_call_over_the_limit_waits_for_the_call_limit_places_back() -> None:
    assert next_start([0.0, 1.0, 2.0], 5.0, calls=3, window=10) == 10.0
    assert next_start([0.0, 1.0, 2.0, 3.0], 5.0, calls=3, window=10) == 11.0


@given(calls=st.integers(1, 6), window=st.floats(0.5, 20),
       gaps=st.lists(st.floats(0, 10), min_size=1, max_size=60))
def test_no_window_ever_holds_more_than_the_limit_and_no_call_waits_needlessly(
    calls: int, window: float, gaps: list[float]
) -> None:
    starts: list[float] = []
    wanted = 0.0
    for gap in gaps:
        wanted += gap
        now = max(wanted, starts[-1]) if starts else wanted
        start = next_start(starts, now, calls, window)
        assert start >= now
        if start > now:  # it waited exactly until the call `calls` back left the window
            assert start == starts[-calls] + window
        starts.append(start)
    for earlier, later in zip(starts, starts[calls:], strict=False):
        assert later >= earlier + window


@pytest.fixture(scope="module")
def shared(redis_url: str) -> Iterator[tuple[asyncio.AbstractEventLoop, Redis]]:
    """A Redis client on a loop of its own, for property tests (which hypothesis runs sync)."""
    loop = asyncio.new_event_loop()
    client = Redis.from_url(redis_url)
    yield loop, client
    loop.run_until_complete(client.aclose())
    loop.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.integers(1, 5), window=st.integers(1, 20),
       gaps=st.lists(st.integers(0, 9000), min_size=1, max_size=40))
def test_the_shared_window_in_redis_follows_the_rule(
    shared: tuple[asyncio.AbstractEventLoop, Redis], calls: int, window: int, gaps: list[int]
) -> None:
    loop, redis = shared
    rate = CallRate(redis, f"http://instance-{uuid.uuid4().hex}", calls, window)

    async def example() -> None:
        starts: list[float] = []
        wanted = 0.0
        for gap in gaps:  # times in milliseconds, whole numbers: exact arithmetic
            wanted += gap
            now = max(wanted, starts[-1]) if starts else wanted
            expected = next_start(starts, now, calls, rate.window_ms)
            while (wait := await rate.take(now)) > 0:
                now += wait
            assert now == expected
            starts.append(now)

    loop.run_until_complete(example())


async def test_two_workers_on_one_instance_share_its_window(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        instance = f"http://instance-{uuid.uuid4().hex}"
        workers = [CallRate(redis, instance, 2, 0.2) for _ in range(2)]
        began = time.monotonic()

        async def two_calls(rate: CallRate) -> list[float]:
            started = []
            for _ in range(2):
                await rate.acquire()
                started.append(time.monotonic() - began)
            return started

        first, second = await asyncio.gather(*(two_calls(w) for w in workers))
        both = sorted(first + second)
    finally:
        await redis.aclose()
    # Two calls at once, the other two one window (0.2 s and the 0.5 s margin) later.
    assert both[1] < 0.3 and both[2] >= 0.7 - 0.01


async def test_without_redis_a_call_goes_ahead(caplog: pytest.LogCaptureFixture) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        rate = CallRate(unreachable, "http://instance", 1, 20)
        for _ in range(3):  # over the limit, yet nothing waits: the source's 606s still apply
            await asyncio.wait_for(rate.acquire(), timeout=5)
    finally:
        await unreachable.aclose()
    assert rate.waited == 0 and "call-rate window unavailable" in caplog.text


async def test_the_daily_budget_stops_calls_until_marketos_next_quota_day(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        rate = CallRate(redis, f"http://instance-{uuid.uuid4().hex}", 0, 20,
                        daily_budget=3)
        # 23:00 US Central on 26 November: 05:00 UTC on the 27th.
        evening = datetime(2026, 11, 27, 5, 0, tzinfo=UTC).timestamp() * 1000
        assert [await rate.take(evening + i) for i in range(4)] == [0, 0, 0, -1]
        assert await rate.take(evening + 2 * 3600_000) == 0  # 01:00 Central: a new quota day
        today = CallRate(redis, f"http://instance-{uuid.uuid4().hex}", 0, 20,
                         daily_budget=2)
        await today.acquire()
        await today.acquire()
        with pytest.raises(BudgetSpent, match="budget of 2 calls"):
            await today.acquire()
    finally:
        await redis.aclose()
