"""Activity ingestion end to end from the simulator (a separate process): activities per second
of a full sync against a bare client that only pages through the same simulator in the same run,
and the sync's peak memory as the backlog grows 10x.

    .venv/bin/python -m bench.ingest_activities [--activities 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import fresh_database, servers
from jobs.activity_api import MAX_TYPES_PER_CALL, ActivityApi
from jobs.activity_sync import sync_tenant
from service.config import Settings
from service.db import Database, create_pool
from service.store.tenants import create_tenant

RATE = 0.25  # the simulator's mean activities per lead and day
DAYS = 30


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "simulator", "--port",
                                str(port)], env={**os.environ, "LOG_LEVEL": "WARNING"})
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sim/stats")
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("simulator did not start")


def configure(port: int, activities: int) -> None:
    leads = int(activities / (RATE * (DAYS + 1)))
    httpx.post(f"http://127.0.0.1:{port}/_sim/config", json={
        "reset": True, "synthetic": True, "leadRange": [100_000, 100_000 + leads],
        "activityRate": RATE, "historyDays": DAYS + 1})


async def bare_client(url: str) -> tuple[int, float]:
    started = time.perf_counter()
    total = 0
    async with ActivityApi(url, "demo-client", "demo-secret") as api:
        ids = sorted(int(t["id"]) for t in await api.activity_types())
        for i in range(0, len(ids), MAX_TYPES_PER_CALL):
            token = await api.paging_token(datetime.now(UTC) - timedelta(days=DAYS))
            while True:
                page = await api.activities(token, ids[i:i + MAX_TYPES_PER_CALL])
                total += len(page.activities)
                token = page.next_page_token
                if not page.more:
                    break
    return total, time.perf_counter() - started


async def sync_once(database_url: str, url: str) -> tuple[int, float]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    db = Database(pool)
    try:
        async with db.system() as conn:
            tenant = await create_tenant(conn, f"Ingest {time.time()}")
        settings = Settings(database_url=database_url, activity_api_url=url,
                            _env_file=None)  # type: ignore[call-arg]
        started = time.perf_counter()
        outcome = await sync_tenant(db, tenant.id, settings)
        return outcome.ingested, time.perf_counter() - started
    finally:
        await pool.close()


def child_sync(database_url: str, url: str) -> dict[str, float]:
    """One sync in a fresh process: its count, time and peak memory."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.ingest_activities", "--child", database_url, url],
        capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


async def main(activities: int) -> None:
    services = servers()
    port = 18_100 + os.getpid() % 500
    simulator = start_simulator(port)
    url = f"http://127.0.0.1:{port}"
    try:
        async with fresh_database(services) as (database_url, _):
            figures = {}
            for size in (activities // 10, activities):
                configure(port, size)
                served, bare_s = await bare_client(url)  # also warms the simulator's cache
                served, bare_s = await bare_client(url)
                figures[size] = (served, bare_s, child_sync(database_url, url))
    finally:
        simulator.terminate()
        services.stop()
    for served, bare_s, sync in figures.values():
        print(f"backlog {served:>8} activities: bare client {served / bare_s:>9,.0f}/s, "
              f"sync {sync['ingested'] / sync['seconds']:>9,.0f}/s "
              f"({sync['ingested']} stored in {sync['seconds']:.1f} s), "
              f"ratio {bare_s / sync['seconds']:.2f}, peak RSS {sync['rss_mib']:.0f} MiB")
    small, large = figures[activities // 10][2], figures[activities][2]
    print(f"peak RSS for 10x the backlog: {large['rss_mib'] / small['rss_mib']:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        ingested, seconds = asyncio.run(sync_once(*args.child))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"ingested": ingested, "seconds": seconds, "rss_mib": rss}))
    else:
        asyncio.run(main(args.activities))
