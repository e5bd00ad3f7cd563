"""The outbox relay (#20): events committed to a tenant's log until they are published on Redis.

Two figures, each beside its floor, measured in the same run:
- throughput: a backlog of committed events (a relay that was down), published by one relay;
  the floor is Redis taking the same payloads in bare pipelines, with nothing read from
  PostgreSQL. Goal >= 2,000 events/s.
- latency: writers commit small transactions while the relay runs; time from each commit to
  its event reaching a Redis subscriber in this process, p50 and p99.

    .venv/bin/python -m bench.event_relay [--events 20000] [--per-transaction 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import orjson

from bench.common import fresh_database, percentile, servers
from service.delivery.relay import EventRelay
from service.events import changes as events
from service.infra.queue import connect as connect_queue
from service.store.tenants import create_tenant


def batch(tenant_id: uuid.UUID, size: int, start: int) -> list[events.Event]:
    return [events.Event.of(events.EventKind.STATUS_CHANGED, tenant_id, uuid.uuid4(),
                            previous_value="a", new_value=str(start + i)) for i in range(size)]


async def listen(redis: Any, channel: str, expect: int, arrived: dict[int, float]) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)
    try:
        while len(arrived) < expect:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                arrived[orjson.loads(message["data"])["position"]] = time.perf_counter()
    finally:
        await pubsub.aclose()


async def main(total: int, per_transaction: int, writers: int) -> None:
    services = servers()
    async with fresh_database(services) as (url, db):
        async with db.as_login() as conn:
            tenant = (await create_tenant(conn, "Relay")).id
        redis = await connect_queue(str(services.redis_url))
        channel = f"{events.EVENTS}:{tenant}"

        # 1. Throughput: a backlog, then one relay.
        for start in range(0, total, 1000):
            async with db.tenant(tenant) as conn:
                await events.record(conn, tenant, batch(tenant, min(1000, total - start), start))
        arrived: dict[int, float] = {}
        listening = asyncio.create_task(listen(redis, channel, total, arrived))
        await asyncio.sleep(0.2)
        relay = EventRelay(db, redis, url)
        started = time.perf_counter()
        await relay.relay(tenant)
        await asyncio.wait_for(listening, 60)
        relay_seconds = max(arrived.values()) - started
        async with db.tenant(tenant, readonly=True) as conn:
            payloads = [orjson.dumps(dict(r)) for r in await conn.fetch(
                "SELECT position, kind, buying_group_id::text, previous_value, new_value, "
                "occurred_at::text FROM events ORDER BY position LIMIT $1", total)]
        started = time.perf_counter()
        for start in range(0, total, 1000):
            await events.publish(redis, tenant, payloads[start:start + 1000])
        floor_seconds = time.perf_counter() - started

        # 2. Latency: writers commit while the relay listens.
        committed: dict[int, float] = {}
        arrived = {}
        live = total // 4 // writers * writers
        async with db.tenant(tenant, readonly=True) as conn:
            base = await conn.fetchval("SELECT max(position) FROM events")
        listening = asyncio.create_task(
            listen(redis, channel, live, arrived))
        await asyncio.sleep(0.2)
        await relay.start()

        async def writer(share: int) -> None:
            for start in range(0, share, per_transaction):
                size = min(per_transaction, share - start)
                async with db.tenant(tenant) as conn:
                    last = await events.record(conn, tenant, batch(tenant, size, start))
                assert last is not None
                now = time.perf_counter()
                for position in range(last - size + 1, last + 1):
                    committed[position] = now

        written = time.perf_counter()
        await asyncio.gather(*(writer(live // writers) for _ in range(writers)))
        write_seconds = time.perf_counter() - written
        await asyncio.wait_for(listening, 60)
        await relay.stop()
        await redis.aclose()
    services.stop()
    latencies = [(arrived[p] - committed[p]) * 1000 for p in committed if p > base]
    print(f"relay throughput: {total} committed events published in {relay_seconds:.2f} s = "
          f"{total / relay_seconds:,.0f} events/s (goal >= 2,000)")
    print(f"floor, bare Redis pipelines of the same payloads: "
          f"{total / floor_seconds:,.0f} events/s; ratio {relay_seconds / floor_seconds:.1f}x")
    print(f"live: {len(latencies)} events committed by {writers} writers in transactions of "
          f"{per_transaction} ({len(latencies) / write_seconds:,.0f} events/s written): "
          f"commit to published p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {percentile(latencies, 0.99):.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--per-transaction", type=int, default=10)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.per_transaction, args.writers))
