"""1,000 concurrent subscribers on one API process: latency from a change's commit (its event's
publication) to delivery at every subscriber, p50 and p99 (goal p99 <= 1 s), and the API
process's memory per idle subscription. Run twice: multiplexed (each event executed once for
all subscribers of the same document, variables, tenant and scopes), then with
SUBSCRIPTION_MULTIPLEX=false (executed per subscriber), the baseline.

    .venv/bin/python -m bench.subscriptions [--subscribers 1000] [--events 40] [--gap 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime

from websockets.asyncio.client import connect

from bench.common import build_groups, fresh_database, memory_mib, servers, started
from service.events import changes as events
from service.infra.auth import Scope
from service.store.api_keys import create_api_key
from service.store.tenants import create_tenant

# The nested selection of #21: each event's group read for each subscriber.
QUERY = """subscription { buyingGroupEvents(filter: {kinds: [STATUS_CHANGED]}) {
  kind newValue occurredAt cursor
  buyingGroup { id name completeness { value } engagement { value } } } }"""


def start_api(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return started([sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                   f"http://127.0.0.1:{port}/healthz", "the API", env=env)


async def run(subscribers: int, count: int, gap: float, multiplex: bool) -> float:
    services = servers()
    port = 18_900 + os.getpid() % 90
    async with fresh_database(services) as (url, db):
        async with db.as_login() as conn:
            tenant = await create_tenant(conn, "Subs")
            _, key = await create_api_key(conn, tenant.id, "bench", {Scope.READ})
        async with db.tenant(tenant.id) as conn:
            await build_groups(conn, tenant.id, groups=1, per_group=3, days_per_person=2)
            group = await conn.fetchval("SELECT id FROM buying_groups")
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": str(services.redis_url),
               "LOG_LEVEL": "WARNING", "ALLOW_PRIVILEGED_DATABASE_LOGIN": "true",
               # one key holds every subscriber here; the per-key cap guards abuse
               "MAX_CONNECTIONS_PER_KEY": str(subscribers + 100),
               "SUBSCRIPTION_MULTIPLEX": str(multiplex).lower()}
        api = await asyncio.to_thread(start_api, port, env)
        try:
            await asyncio.sleep(1)
            idle_before = memory_mib(api.pid)
            latencies: list[float] = []
            ready = asyncio.Event()
            connected = 0

            async def subscriber() -> None:
                nonlocal connected
                async with connect(f"ws://127.0.0.1:{port}/graphql",
                                   subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                   open_timeout=60, max_queue=None) as ws:
                    await ws.send(json.dumps({"type": "connection_init",
                                              "payload": {"Authorization": f"Bearer {key}"}}))
                    await ws.recv()
                    await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                              "payload": {"query": QUERY}}))
                    connected += 1
                    if connected == subscribers:
                        ready.set()
                    received = 0
                    while received < count:
                        message = json.loads(await ws.recv())
                        if message.get("type") != "next":
                            continue
                        event = message["payload"]["data"]["buyingGroupEvents"]
                        assert event["buyingGroup"]["id"], message
                        sent = datetime.fromisoformat(event["occurredAt"])
                        latencies.append((datetime.now(UTC) - sent).total_seconds())
                        received += 1

            tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
            await asyncio.wait_for(ready.wait(), 120)
            await asyncio.sleep(2)
            idle_after = memory_mib(api.pid)
            for i in range(count):  # committed as a change would, relayed by the API process
                async with db.tenant(tenant.id) as conn:
                    await events.record(conn, tenant.id, [events.Event.of(
                        events.EventKind.STATUS_CHANGED, tenant.id, group,
                        new_value=str(i))])
                await asyncio.sleep(gap)
            await asyncio.wait_for(asyncio.gather(*tasks), 120)
        finally:
            api.terminate()
            api.wait(timeout=10)
    services.stop()
    ordered = sorted(latencies)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print("multiplexed:" if multiplex else "baseline, executed per subscriber:")
    print(f"  {subscribers} subscribers x {count} events = {len(latencies)} deliveries: "
          f"p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
          f"(goal p99 <= 1000 ms)")
    print(f"  API process memory: {idle_before:.0f} MiB before, {idle_after:.0f} MiB with "
          f"{subscribers} idle subscriptions = "
          f"{(idle_after - idle_before) * 1024 / subscribers:.0f} KiB each")
    return p99


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between events")
    args = parser.parse_args()
    multiplexed, baseline = (asyncio.run(run(args.subscribers, args.events, args.gap, m))
                             for m in (True, False))
    print(f"p99 multiplexed / baseline: {multiplexed / baseline:.2f}x")
