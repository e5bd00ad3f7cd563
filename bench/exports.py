"""Bulk export and erasure at scale.

Export: 100,000 groups with 4 members each (400,000 MEMBERS rows), run as the EXPORT job runs
(COPY out of PostgreSQL into the file's chunks), against the floor: a bare `COPY (the same
query) TO STDOUT` read and thrown away, in the same run (goal: >= 0.5x the floor's rate). The
job runs in a child process for 10,000 and for 100,000 groups: the growth of its peak memory
(goal: <= 1.2x).

Erasure: a person with 10,000 activities and 20 memberships, erased through the use case
(goal: <= 1 s).

    .venv/bin/python -m bench.exports [--groups 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from bench.common import build_groups, fresh_database, servers
from jobs.runner import run_job
from service.infra.db import Database, create_pool
from service.store import activities as activity_store
from service.store import exports as export_store
from service.store import jobs as job_store
from service.store.activities import month_start
from service.store.exports import ExportRequest
from service.store.group_browse import GroupFilter
from service.store.jobs import JobKind
from service.store.tenants import create_tenant
from service.usecases import erasure
from service.usecases import exports as export_cases
from service.usecases.unit_of_work import CLI, unit_of_work

MEMBERS = ExportRequest("MEMBERS", "CSV", GroupFilter())


async def build(conn: Any, name: str, groups: int) -> UUID:
    tenant = await create_tenant(conn, name)
    await build_groups(conn, tenant.id, groups, per_group=4, days_per_person=0)
    return tenant.id


def _child(url: str, job_id: str, results: Any) -> None:
    async def run() -> float:
        pool = await create_pool(url, min_size=1, max_size=4)
        try:
            started = time.perf_counter()
            status = await run_job(Database(pool), UUID(job_id), lease_seconds=3600)
            assert status is not None and status.value == "SUCCEEDED", status
            return time.perf_counter() - started
        finally:
            await pool.close()

    took = asyncio.run(run())
    results.put((took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


async def export_job(db: Database, url: str, tenant_id: UUID) -> tuple[float, float, int, int]:
    """The EXPORT job in a process of its own: its time, peak memory (MiB), rows and bytes."""
    async with db.tenant(tenant_id) as conn:
        job = await job_store.create_job(conn, tenant_id, JobKind.EXPORT,
                                         export_cases.payload(MEMBERS))
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    child = spawn.Process(target=_child, args=(url, str(job.id), results))
    child.start()
    took, peak = results.get()
    child.join()
    async with db.tenant(tenant_id, readonly=True) as conn:
        file = await export_store.export_file(conn, job.id)
    assert file is not None
    return took, peak, file.rows, file.bytes


async def bare_copy(db: Database, tenant_id: UUID) -> tuple[float, int]:
    sql, args = export_store.export_query(tenant_id, MEMBERS)
    size = 0

    async def discard(data: bytes) -> None:
        nonlocal size
        size += len(data)

    async with db.tenant(tenant_id, readonly=True) as conn:
        started = time.perf_counter()
        await export_store.copy_out(conn, sql, args, "CSV", discard)
        return time.perf_counter() - started, size


async def erasure_case(db: Database) -> tuple[float, int, int]:
    """A person with 10,000 activities over 60 days and 20 memberships, erased."""
    async with db.as_login() as conn:
        tenant = await create_tenant(conn, "Erase")
        await build_groups(conn, tenant.id, 20, per_group=4, days_per_person=0)
        person = await conn.fetchval(
            "SELECT id FROM people WHERE tenant_id = $1 ORDER BY external_id LIMIT 1", tenant.id)
        lead = await conn.fetchval("SELECT external_id FROM people WHERE id = $1", person)
        role = await conn.fetchval("SELECT id FROM roles WHERE tenant_id = $1 LIMIT 1",
                                   tenant.id)
        await conn.execute(
            """INSERT INTO buying_group_members (tenant_id, buying_group_id, person_id, role_id,
                                                 source)
               SELECT $1, g.id, $2, $3, 'MANUAL' FROM buying_groups g WHERE g.tenant_id = $1
               ON CONFLICT DO NOTHING""", tenant.id, person, role)
        start = datetime.now(UTC) - timedelta(days=60)
        await activity_store.ensure_partitions(conn, {
            month_start(start + timedelta(days=d)) for d in range(62)})
        await conn.execute(
            """INSERT INTO activities (tenant_id, activity_date, source_id, lead_id,
                                       source_type_id)
               SELECT $1, $2::timestamptz + n * interval '500 seconds', 'act-' || n, $3, 1
                 FROM generate_series(1, 10000) n""", tenant.id, start, lead)
        await conn.execute(
            """INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, count)
               SELECT $1, lead_id, source_type_id, activity_date::date, count(*)
                 FROM activities WHERE tenant_id = $1 GROUP BY 2, 3, 4""", tenant.id)
        memberships = await conn.fetchval(
            "SELECT count(*) FROM buying_group_members WHERE person_id = $1", person)
        await conn.execute("ANALYZE")
    started = time.perf_counter()
    async with unit_of_work(db, tenant.id, CLI, audit="bench") as work:
        done = await erasure.erase_person(work, person)
    took = time.perf_counter() - started
    assert done.value is not None, done.problems
    return took, done.value.activities_deleted, memberships


async def main(groups: int) -> None:
    services = servers()
    async with fresh_database(services) as (url, db):
        started = time.perf_counter()
        async with db.as_login() as conn:
            small = await build(conn, "Export small", groups // 10)
            large = await build(conn, "Export large", groups)
        async with db.pool.acquire() as raw:
            await raw.execute("VACUUM ANALYZE")
        print(f"set-up: {groups // 10} and {groups} groups with 4 members each in "
              f"{time.perf_counter() - started:.0f} s")
        floor, floor_bytes = await bare_copy(db, large)
        took, peak, rows, size = await export_job(db, url, large)
        small_took, small_peak, small_rows, _ = await export_job(db, url, small)
        again, _ = await bare_copy(db, large)
        floor = min(floor, again)
        print(f"bare COPY of the {rows} MEMBERS rows: {floor:.2f} s, "
              f"{rows / floor:,.0f} rows/s ({floor_bytes / 2**20:.1f} MiB)")
        print(f"EXPORT job: {took:.2f} s, {rows / took:,.0f} rows/s ({size / 2**20:.1f} MiB); "
              f"rate {floor / took:.2f}x the floor's (goal >= 0.5x)")
        print(f"worker peak memory: {small_peak:.0f} MiB at {small_rows} rows "
              f"({small_took:.2f} s), {peak:.0f} MiB at {rows} rows: "
              f"{peak / small_peak:.2f}x (goal <= 1.2x)")
        erase, activities, memberships = await erasure_case(db)
        print(f"erasePerson of a person with {activities} activities and {memberships} "
              f"memberships: {erase * 1000:.0f} ms (goal <= 1000 ms)")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.groups))
