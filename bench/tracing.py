"""What tracing costs a browse request (50 groups with their members, over HTTP in process,
against PostgreSQL and Redis): p50 with tracing off (the default: nothing instrumented), and on
with an exporter that drops every span (the SDK, the instrumentation and the spans, without a
collector's network). Off and on alternate in blocks, so both see the same machine. Goals:
on <= 10 % over off; off is the untraced code path itself (no instrumentation installed, one
`is None` test per log line), so its cost is the spread between two off blocks.

    .venv/bin/python -m bench.tracing [--requests 300] [--first 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.browse_groups import QUERY
from bench.common import demo_groups, fresh_database, servers, vacuum_analyze
from service.app import create_app
from service.infra import tracing
from service.infra.config import Settings

BLOCKS = 6


class Dropped(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def block(settings: Settings, key: str, requests: int, first: int) -> list[float]:
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            times = []
            for i in range(requests + 10):
                started = time.perf_counter()
                response = await client.post(
                    "/graphql", json={"query": QUERY, "variables": {"first": first}},
                    headers={"Authorization": f"Bearer {key}"})
                body = response.json()
                assert "errors" not in body, body["errors"]
                if i >= 10:
                    times.append((time.perf_counter() - started) * 1000)
            return times


async def main(requests: int, first: int) -> None:
    services = servers()
    async with fresh_database(services) as (url, db):
        _, key = await demo_groups(db)
        await vacuum_analyze(url)
        settings = Settings(database_url=url, redis_url=services.redis_url, _env_file=None,
                            log_level="WARNING", response_cache=False, rate_limit_points=0,
                            allow_privileged_database_login=True)  # type: ignore[call-arg]
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Dropped()))
        off: list[list[float]] = []
        on: list[list[float]] = []
        for _ in range(BLOCKS // 2):
            off.append(await block(settings, key, requests, first))
            tracing.start(None, "bench", provider)
            try:
                on.append(await block(settings, key, requests, first))
            finally:
                tracing.stop()
        p50_off = statistics.median([t for b in off for t in b])
        p50_on = statistics.median([t for b in on for t in b])
        spread = [statistics.median(b) for b in off]
        print(f"browse {first} groups, {requests} requests a block, {BLOCKS} blocks")
        print(f"tracing off: p50 {p50_off:.2f} ms (blocks {', '.join(f'{s:.2f}' for s in spread)};"
              f" spread {100 * (max(spread) - min(spread)) / p50_off:.1f} %)")
        print(f"tracing on, spans dropped: p50 {p50_on:.2f} ms = "
              f"{100 * (p50_on / p50_off - 1):+.1f} % (goal <= +10 %)")


def cli(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--first", type=int, default=50)
    args = parser.parse_args(argv)
    asyncio.run(main(args.requests, args.first))


if __name__ == "__main__":
    cli()
