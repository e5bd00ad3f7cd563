"""Browse and overview through the API of a large tenant: the first requests after the jobs,
alone, and while a full rescoring runs in a worker process."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from uuid import UUID

import httpx

from bench.common import memory_mib, started
from bench.day_report import Phase, Report
from bench.worker_process import in_worker
from service.infra.auth import Scope
from service.infra.db import Database
from service.store.api_keys import create_api_key

BROWSE = """query Browse { buyingGroups(first: 50, orderBy: {field: NAME}) { totalCount
  nodes { name account { name } completeness { value } engagement { value }
          members(first: 20) { nodes { role { name } person { externalId jobTitle } } } } } }"""
OVERVIEW = """query Overview { buyingGroupsOverview { total averageEngagement
  byStage { count } engagementBands { count } roleCoverage { filled } topEngaged { name } } }"""


def ms(times: list[float]) -> str:
    """p50, p95 and the slowest of request times, in milliseconds."""
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms")


async def api_times(client: httpx.AsyncClient, query: str, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.post("/graphql", json={"query": query})
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        times.append(time.perf_counter() - started)
    return times


def serve_api(url: str, redis_url: str | None, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "RATE_LIMIT_POINTS": "0",
           "RESPONSE_CACHE": "false", "ALLOW_PRIVILEGED_DATABASE_LOGIN": "true"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return started([sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                   f"http://127.0.0.1:{port}/healthz", "the API", env=env, tries=200)


async def reads_under_load(db: Database, url: str, redis_url: str | None, tenant: UUID,
                           report: Report) -> None:
    """Browse and overview p50 through the API, alone and while a full rescoring runs."""
    async with db.as_login() as conn:
        _, key = await create_api_key(conn, tenant, "bench", {Scope.READ})
    port = 18_600 + os.getpid() % 300
    api = serve_api(url, redis_url, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            # The first requests after the jobs read rows they just rewrote: shown apart.
            first = {q: await api_times(client, q, 10) for q in (BROWSE, OVERVIEW)}
            alone = {q: await api_times(client, q, 30) for q in (BROWSE, OVERVIEW)}
            idle = {q: statistics.median(alone[q]) for q in (BROWSE, OVERVIEW)}
            loop = asyncio.get_running_loop()
            running = multiprocessing.get_context("spawn").Event()
            load = loop.run_in_executor(None, partial(in_worker, url, "rescore_here",
                                                      str(tenant), running=running))
            busy: dict[str, list[float]] = {BROWSE: [], OVERVIEW: []}
            while not load.done():
                counted = running.is_set()  # only requests sent while the rescoring runs
                for query in (BROWSE, OVERVIEW):
                    took = await api_times(client, query, 1)
                    busy[query] += took if counted else []
            await load
        report.api_peak_mib = memory_mib(api.pid, "VmHWM")
    finally:
        api.terminate()
        api.wait()
    for query, name in ((BROWSE, "browse, 50 groups with members"),
                        (OVERVIEW, "overview")):
        report.notes.append(
            f"{name}: the first 10 requests after the jobs {ms(first[query])}; alone "
            f"{ms(alone[query])}; during a full rescoring {ms(busy[query])}")
        report.phases.append(Phase(f"{name}: p50 during a full rescoring "
                                   f"({len(busy[query])} requests)",
                                   statistics.median(busy[query]), idle[query],
                                   "the same request with nothing else running"))
