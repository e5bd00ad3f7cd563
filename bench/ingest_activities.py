"""Activity ingestion end to end from the simulator (a separate process): activities per second
of a full sync against a bare client that only pages through the same simulator in the same run,
and the sync's peak memory as the backlog grows 10x.

On Linux with a local PostgreSQL it also prints where the CPU time went (simulator, client or
connector, PostgreSQL): on a small machine the three compete for the same cores, and the ratio
is bounded by their sum.

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

from bench.common import fresh_database, servers, started
from jobs.activity_sync import sync_tenant
from service.infra.config import Settings
from service.infra.db import Database, create_pool
from service.sources.activity_api import MAX_TYPES_PER_CALL, ActivityApi
from service.store.tenants import create_tenant

RATE = 0.25  # the simulator's mean activities per lead and day
DAYS = 30


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    return started([sys.executable, "-m", "service.cli", "simulator", "--port", str(port)],
                   f"http://127.0.0.1:{port}/_sim/stats", "simulator",
                   env={**os.environ, "LOG_LEVEL": "WARNING"})


def cpu_seconds(pid: int, *, children: bool = False) -> float | None:
    """User and system CPU time of a local process (with its reaped children's), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    used = fields[11:15] if children else fields[11:13]
    return sum(map(int, used)) / os.sysconf("SC_CLK_TCK")


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def server_cpu(postmaster: int | None) -> float | None:
    """Every PostgreSQL process's CPU time so far: the postmaster's (which includes that of the
    backends it has reaped) plus that of its live children."""
    if postmaster is None:
        return None
    total = cpu_seconds(postmaster, children=True)
    if total is None:
        return None
    for entry in os.listdir("/proc"):
        if entry.isdigit() and parent_pid(int(entry)) == postmaster:
            total += cpu_seconds(int(entry)) or 0.0
    return total


async def find_postmaster(database_url: str) -> int | None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:  # while the backend lives: its parent is the postmaster
        return parent_pid(int(await pool.fetchval("SELECT pg_backend_pid()")))
    finally:
        await pool.close()


def spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def show(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f}"


def configure(port: int, activities: int) -> None:
    leads = int(activities / (RATE * (DAYS + 1)))
    httpx.post(f"http://127.0.0.1:{port}/_sim/config", json={
        "reset": True, "synthetic": True, "leadRange": [100_000, 100_000 + leads],
        "activityRate": RATE, "historyDays": DAYS + 1})


async def bare_client(url: str) -> tuple[int, float, float]:
    started = time.perf_counter()
    cpu = time.process_time()
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
    return total, time.perf_counter() - started, time.process_time() - cpu


async def sync_once(database_url: str, url: str) -> tuple[int, float, float]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    db = Database(pool)
    try:
        async with db.as_login() as conn:
            tenant = await create_tenant(conn, f"Ingest {time.time()}")
        # The connector's own speed: without the call-rate window a real Marketo imposes
        # (100 calls per 20 s, about 1,500 activities/s), which the simulator does not.
        settings = Settings(database_url=database_url, activity_api_url=url,
                            activity_api_max_calls=0, _env_file=None)  # type: ignore[call-arg]
        started, cpu = time.perf_counter(), time.process_time()
        outcome = await sync_tenant(db, tenant.id, settings)
        return outcome.ingested, time.perf_counter() - started, time.process_time() - cpu
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
    cpu: dict[int, tuple[float | None, ...]] = {}
    try:
        async with fresh_database(services) as (database_url, _):
            postmaster = await find_postmaster(database_url)
            figures = {}
            for size in (activities // 10, activities):
                configure(port, size)
                await bare_client(url)  # warms the simulator's cache
                sim_cpu = cpu_seconds(simulator.pid)
                served, bare_s, bare_cpu = await bare_client(url)
                bare_sim = spent(sim_cpu, sim_cpu := cpu_seconds(simulator.pid))
                pg_cpu = server_cpu(postmaster)
                sync = child_sync(database_url, url)
                sync_sim = spent(sim_cpu, cpu_seconds(simulator.pid))
                sync_pg = spent(pg_cpu, server_cpu(postmaster))
                figures[size] = (served, bare_s, sync)
                cpu[size] = (bare_sim, bare_cpu, sync_sim, sync["cpu"], sync_pg)
    finally:
        simulator.terminate()
        services.stop()
    for size, (served, bare_s, sync) in figures.items():
        print(f"backlog {served:>8} activities: bare client {served / bare_s:>9,.0f}/s, "
              f"sync {sync['ingested'] / sync['seconds']:>9,.0f}/s "
              f"({sync['ingested']} stored in {sync['seconds']:.2f} s), "
              f"ratio {bare_s / sync['seconds']:.2f}, peak RSS {sync['rss_mib']:.0f} MiB")
        bare_sim, client_cpu, sync_sim, sync_cpu, sync_pg = cpu[size]
        print(f"    CPU seconds: bare = simulator {show(bare_sim)} + client {show(client_cpu)} "
              f"in {bare_s:.2f} s; sync = simulator {show(sync_sim)} + connector "
              f"{show(sync_cpu)} + PostgreSQL {show(sync_pg)} in {sync['seconds']:.2f} s "
              f"on {os.cpu_count()} cores")
    small, large = figures[activities // 10][2], figures[activities][2]
    print(f"peak RSS for 10x the backlog: {large['rss_mib'] / small['rss_mib']:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        ingested, seconds, cpu = asyncio.run(sync_once(*args.child))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"ingested": ingested, "seconds": seconds, "cpu": cpu,
                          "rss_mib": rss}))
    else:
        asyncio.run(main(args.activities))
