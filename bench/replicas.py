"""Read replicas: browse throughput of one API process and of two, each reading from a streaming
replica (DATABASE_READ_URL), under the same closed-loop load (CLIENTS clients, each sending its
next request when the last answered), and the share of reads the replica served. Goals: two
processes >= 1.6x one; >= 90 % of reads on the replica.

Everything here shares the machine: the API processes, the primary, the replica and the load
generator. So it also prints the CPU each takes a request, and the throughput those figures
allow on this machine's cores, which bounds the scaling a second process can show here.

    .venv/bin/python -m bench.replicas [--seconds 10] [--clients 16] [--first 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time

import asyncpg
import httpx
import psutil

from bench.browse_groups import QUERY
from bench.common import (
    ROOT,
    demo_groups,
    fresh_database,
    percentile,
    servers,
    started,
    vacuum_analyze,
)
from service.dev.replica import free_port, start_replica

_READS = re.compile(r'^bg_database_reads_total\{server="(\w+)"\} (\S+)$', re.MULTILINE)


def start_api(database_url: str, redis_url: str, read_url: str) -> tuple[str, psutil.Process]:
    port = free_port()
    process = started(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        f"http://127.0.0.1:{port}/readyz", "the API", cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
             "DATABASE_READ_URL": read_url, "RESPONSE_CACHE": "false", "LOG_LEVEL": "WARNING",
             "RATE_LIMIT_POINTS": "0", "ALLOW_PRIVILEGED_DATABASE_LOGIN": "true"})
    return f"http://127.0.0.1:{port}", psutil.Process(process.pid)


def reads(text: str) -> dict[str, float]:
    return {server: float(count) for server, count in _READS.findall(text)}


def cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        for each in (process, *process.children(recursive=True)):
            try:
                times = each.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


async def postmaster(url: str) -> psutil.Process:
    """The server `url` reaches (its backends are the postmaster's children)."""
    conn = await asyncpg.connect(url)
    try:
        parent = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()")).parent()
        assert parent is not None
        return parent
    finally:
        await conn.close()


async def load(urls: list[str], key: str, first: int, clients: int, seconds: float
               ) -> tuple[int, list[float]]:
    """Closed loop: each client sends its next request as the last answers, to the process
    after the one it used last."""
    times: list[float] = []
    deadline = time.monotonic() + seconds
    body = {"query": QUERY, "variables": {"first": first}}
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(index: int, http: httpx.AsyncClient) -> None:
        turn = index
        while time.monotonic() < deadline:
            url = urls[turn % len(urls)]
            turn += 1
            began = time.perf_counter()
            response = await http.post(f"{url}/graphql", json=body, headers=headers)
            assert response.status_code == 200 and "errors" not in response.json(), response.text
            times.append((time.perf_counter() - began) * 1000)

    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    return len(times), times


async def main(seconds: float, clients: int, first: int) -> None:
    services = servers()
    assert services.database_url and services.redis_url
    async with fresh_database(services) as (url, db):
        _, key = await demo_groups(db)
        await vacuum_analyze(url)
        replica = await start_replica(services.database_url)
        apis: list[tuple[str, psutil.Process]] = []
        try:
            read_url = replica.url(url)
            apis = [start_api(url, services.redis_url, read_url) for _ in range(2)]
            databases = [await postmaster(url), await postmaster(read_url)]
            generator = psutil.Process()
            rows = []
            for count in (1, 2):
                urls = [u for u, _ in apis[:count]]
                await load(urls, key, first, clients, 1.0)  # warm both pools and caches
                async with httpx.AsyncClient() as http:
                    before = [reads((await http.get(f"{u}/metrics")).text) for u in urls]
                used = (cpu([p for _, p in apis[:count]]), cpu(databases),
                        generator.cpu_times().user + generator.cpu_times().system)
                done, times = await load(urls, key, first, clients, seconds)
                used = (cpu([p for _, p in apis[:count]]) - used[0],
                        cpu(databases) - used[1],
                        generator.cpu_times().user + generator.cpu_times().system - used[2])
                async with httpx.AsyncClient() as http:
                    after = [reads((await http.get(f"{u}/metrics")).text) for u in urls]
                served = {s: sum(a.get(s, 0) - b.get(s, 0) for a, b in zip(after, before,
                                                                            strict=True))
                          for s in ("replica", "primary")}
                share = served["replica"] / max(1.0, sum(served.values()))
                rows.append((count, done / seconds, statistics.median(times),
                             percentile(times, 0.9), share, [u / done * 1000 for u in used]))
            cores = psutil.cpu_count() or 1
            print(f"browse {first} groups, {clients} clients, {seconds:.0f} s a run, "
                  f"{cores} cores; API processes read from a streaming replica")
            for count, rate, p50, p90, share, per in rows:
                bound = cores * 1000 / sum(per)
                print(f"{count} API process(es): {rate:.0f} requests/s, p50 {p50:.1f} ms, "
                      f"p90 {p90:.1f} ms; reads on the replica {100 * share:.1f} % "
                      f"(goal >= 90 %); CPU ms a request: API {per[0]:.2f}, PostgreSQL "
                      f"{per[1]:.2f}, load generator {per[2]:.2f} (bound on this machine: "
                      f"{bound:.0f} requests/s)")
            print(f"two processes / one: {rows[1][1] / rows[0][1]:.2f}x (goal >= 1.6x)")
        finally:
            for _, process in apis:
                process.terminate()
            psutil.wait_procs([process for _, process in apis], timeout=10)
            replica.stop()  # after the API processes: they would log it going


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--first", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.clients, arguments.first))
