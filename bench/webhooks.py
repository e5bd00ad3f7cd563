"""Webhook delivery (#20): 100 endpoints on a fast receiver (its own process), events committed
one at a time; time from each commit to its delivery at every endpoint, p50 and p99 (goal p99
<= 2 s). The relay and the sender run here, as in a worker. The floor: the same fan-out as bare
httpx POSTs of a signed body from this process (no database, no queue), per event.

    .venv/bin/python -m bench.webhooks [--endpoints 100] [--events 20] [--gap 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.common import fresh_database, percentile, servers, started
from service.delivery.relay import EventRelay
from service.delivery.webhooks import WebhookSender
from service.events import changes as events
from service.events.signing import new_signing_secret, signed_headers
from service.infra.config import Settings
from service.infra.queue import connect as connect_queue
from service.infra.secrets import new_key
from service.store import webhooks as webhook_store
from service.store.tenants import create_tenant


def receive(port: int) -> None:
    """The partner: answers 204 at once and notes when each delivery arrived."""
    seen: list[tuple[str, str, float]] = []

    async def hook(request: Request) -> Response:
        body = orjson.loads(await request.body())
        seen.append((request.path_params["n"], body["data"]["cursor"], time.time()))
        return Response(status_code=204)

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse(seen)

    app = Starlette(routes=[Route("/hook/{n}", hook, methods=["POST"]),
                            Route("/stats", stats)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_receiver(port: int) -> subprocess.Popen[bytes]:
    return started([sys.executable, "-m", "bench.webhooks", "--receive", str(port)],
                   f"http://127.0.0.1:{port}/stats", "the receiver")


async def main(endpoints: int, count: int, gap: float) -> None:
    services = servers()
    port = 19_000 + os.getpid() % 90
    partner = await asyncio.to_thread(start_receiver, port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with fresh_database(services) as (url, db):
            settings = Settings(database_url=url, redis_url=services.redis_url,
                                secret_key=new_key(), outbound_allowed_hosts="127.0.0.1",
                                _env_file=None)  # type: ignore[call-arg]
            async with db.as_login() as conn:
                tenant = (await create_tenant(conn, "Hooks")).id
            async with db.tenant(tenant) as conn:
                for n in range(endpoints):
                    await webhook_store.create_endpoint(
                        conn, tenant, url=f"{base}/hook/{n}", kinds=[], description=None,
                        sealed_secret=settings.secrets.seal(new_signing_secret()))
            redis = await connect_queue(str(services.redis_url))
            relay = EventRelay(db, redis, url)
            sender = WebhookSender(db, settings, url)
            await relay.start()
            await sender.start()
            committed: dict[str, float] = {}
            for i in range(count):
                async with db.tenant(tenant) as conn:
                    position = await events.record(conn, tenant, [events.Event.of(
                        events.EventKind.STATUS_CHANGED, tenant, uuid.uuid4(),
                        new_value=str(i))])
                assert position is not None
                committed[events.event_cursor(position)] = time.time()
                await asyncio.sleep(gap)
            async with httpx.AsyncClient() as client:
                for _ in range(600):
                    seen = (await client.get(f"{base}/stats")).json()
                    if len(seen) >= endpoints * count:
                        break
                    await asyncio.sleep(0.1)
                latencies = [(at - committed[cursor]) * 1000 for _, cursor, at in seen]
                # The floor: the same fan-out, bare.
                body = orjson.dumps({"data": {"cursor": "floor"}})
                secret = new_signing_secret()
                floor: list[float] = []
                for _ in range(count):
                    started = time.perf_counter()
                    await asyncio.gather(*(client.post(
                        f"{base}/hook/{n}", content=body,
                        headers=signed_headers(secret, f"msg_{n}", body))
                        for n in range(endpoints)))
                    floor.append((time.perf_counter() - started) * 1000)
            await sender.stop()
            await relay.stop()
            await redis.aclose()
    finally:
        partner.terminate()
        partner.wait(timeout=10)
        services.stop()
    print(f"{endpoints} endpoints x {count} events = {len(latencies)} deliveries "
          f"(expected {endpoints * count}): commit to delivery p50 "
          f"{statistics.median(latencies):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms "
          f"(goal p99 <= 2000 ms)")
    print(f"floor, {endpoints} bare signed POSTs side by side from one process: p50 "
          f"{statistics.median(floor):.0f} ms, p99 {percentile(floor, 0.99):.0f} ms per event")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between events")
    parser.add_argument("--receive", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        receive(args.receive)
    else:
        asyncio.run(main(args.endpoints, args.events, args.gap))
