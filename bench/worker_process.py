"""Jobs run in a process of their own, as the worker runs them: their time, their answer,
their peak memory, and what they asked of PostgreSQL."""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from bench.day_report import Io
from service.infra.db import Database, create_pool


def _in_child(url: str, target: str, args: tuple[Any, ...], results: Any,
              running: Any) -> None:
    async def run() -> tuple[float, Any]:
        pool = await create_pool(url, min_size=1, max_size=4, command_timeout=3600)
        try:
            work: Callable[..., Awaitable[Any]] = globals()[target]
            running.set()
            started = time.perf_counter()
            value = await work(Database(pool), *args)
            return time.perf_counter() - started, value
        finally:
            await pool.close()

    took, value = asyncio.run(run())
    results.put((took, value, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def in_worker(url: str, target: str, *args: Any, running: Any = None
              ) -> tuple[float, Any, float]:
    """`target(db, *args)` in a fresh process (`target`: the name of a function of this
    module): its seconds, its answer, its peak RSS (MiB); `running` (an Event of the spawn
    context) is set when the target starts."""
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    running = running if running is not None else spawn.Event()
    child = spawn.Process(target=_in_child, args=(url, target, args, results, running))
    child.start()
    while True:  # a child that dies puts nothing: do not wait for it forever
        try:
            answer = results.get(timeout=1)
            break
        except queue.Empty:
            if not child.is_alive():
                raise RuntimeError(f"{target} failed in its process") from None
    child.join()
    return answer  # type: ignore[no-any-return]


async def io_now(db: Database) -> Io:
    async with db.as_login() as conn:
        row = await conn.fetchrow(
            """SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS wal,
                      sum(blks_read)::bigint AS reads, sum(blk_read_time) AS read_ms,
                      sum(blk_write_time) AS write_ms
                 FROM pg_stat_database""")
    assert row is not None
    return Io(row["wal"], row["reads"], row["read_ms"] / 1000, row["write_ms"] / 1000)


async def measured(db: Database, url: str, target: str, *args: Any
                   ) -> tuple[float, Any, float, Io]:
    """`in_worker`, with what the job asked of PostgreSQL (its connections closed with its
    process, their statistics are counted)."""
    before = await io_now(db)
    took, value, memory = in_worker(url, target, *args)
    return took, value, memory, await io_now(db) - before


async def run_job_here(db: Database, job_id: str) -> str:
    from jobs.runner import run_job

    status = await run_job(db, UUID(job_id), lease_seconds=3600)
    assert status is not None and status.value == "SUCCEEDED", status
    return status.value


async def sync_here(db: Database, tenant_id: str, source_url: str
                    ) -> tuple[int, int, float]:
    """The sync job's work: the activity read and stored, then the groups it touched
    rescored; (activities stored, groups rescored, seconds of the rescoring)."""
    from jobs.activity_sync import rescore_touched, sync_tenant
    from service.infra.config import Settings
    from service.usecases.unit_of_work import SYSTEM

    settings = Settings(database_url="postgresql://unused", activity_api_url=source_url,
                        activity_api_max_calls=0, _env_file=None)  # type: ignore[call-arg]
    outcome = await sync_tenant(db, UUID(tenant_id), settings)
    started = time.perf_counter()
    rescored = await rescore_touched(db, UUID(tenant_id), outcome, SYSTEM,
                                     settings.rescore_connections)
    return outcome.ingested, rescored, time.perf_counter() - started


async def rescore_here(db: Database, tenant_id: str) -> int:
    from jobs.rescoring import rescore
    from service.usecases.unit_of_work import SYSTEM

    return await rescore(db, UUID(tenant_id), None, actor=SYSTEM, connections=2)
