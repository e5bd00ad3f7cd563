"""Shared set-up for the benchmarks: a fresh database on the configured (or embedded) server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.dev.embedded import EmbeddedServices, start_missing, with_database  # noqa: E402
from service.infra.db import Database, create_pool, drop_database, ensure_database  # noqa: E402
from service.infra.migrate import migrate  # noqa: E402


def servers() -> EmbeddedServices:
    return start_missing(ROOT / ".data" / "bench", os.environ.get("DATABASE_URL"),
                         os.environ.get("REDIS_URL"))


@asynccontextmanager
async def fresh_database(services: EmbeddedServices) -> AsyncIterator[tuple[str, Database]]:
    """A new database, dropped afterwards; with BENCH_KEEP=name the named one, kept (so a large
    data set is built once while iterating: see `reused`)."""
    assert services.database_url
    keep = os.environ.get("BENCH_KEEP")
    name = keep or f"bg_bench_{uuid.uuid4().hex[:8]}"
    await ensure_database(services.database_url, name)
    url = with_database(services.database_url, name)
    await migrate(url)
    # Benchmarks build large data sets in single statements.
    pool = await create_pool(url, min_size=1, max_size=4, command_timeout=3600)
    try:
        yield url, Database(pool)
    finally:
        await pool.close()
        if not keep:
            await drop_database(services.database_url, name)


async def reused(conn: Any, name: str) -> UUID | None:
    """The tenant a kept database (BENCH_KEEP) already holds for this benchmark, if any."""
    if not os.environ.get("BENCH_KEEP"):
        return None
    tenant: UUID | None = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", name)
    return tenant


def started(command: list[str], url: str, what: str, *, env: dict[str, str] | None = None,
            cwd: Path | None = None, tries: int = 100) -> subprocess.Popen[bytes]:
    """A server process of the benchmark, once `url` answers 200 (tried every 0.1 s)."""
    process = subprocess.Popen(command, env=env, cwd=cwd)
    for _ in range(tries):
        try:
            if httpx.get(url).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"{what} did not start")


def memory_mib(pid: int, field: str = "VmRSS") -> float:
    """A process's memory from /proc, in MiB: `VmRSS` now, `VmHWM` its peak."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def build_groups(conn: Any, tenant_id: UUID, groups: int, per_group: int,
                       days_per_person: int) -> None:
    """A tenant-sized data set in a few set-based statements: a LIVE three-role template, one
    solution interest, `groups` accounts with `per_group` people each, one buying group per
    account with every person a member, and `days_per_person` activity-days per person."""
    roles = [r["id"] for r in await conn.fetch(
        "SELECT id FROM roles WHERE tenant_id = $1 ORDER BY position LIMIT 3", tenant_id)]
    template = await conn.fetchval(
        "INSERT INTO role_templates (tenant_id, name, status) VALUES ($1, 'T', 'LIVE') "
        "RETURNING id", tenant_id)
    for position, (role, weighting) in enumerate(zip(
            roles, ("VITAL", "IMPORTANT", "NORMAL"), strict=True)):
        await conn.execute(
            "INSERT INTO role_template_entries (tenant_id, role_template_id, position, "
            "role_id, weighting) VALUES ($1, $2, $3, $4, $5)", tenant_id, template,
            position, role, weighting)
    interest = await conn.fetchval(
        "INSERT INTO solution_interests (tenant_id, name, role_template_id) "
        "VALUES ($1, 'S', $2) RETURNING id", tenant_id, template)
    await conn.execute(
        """INSERT INTO accounts (tenant_id, external_id, name)
           SELECT $1, 'A' || g, 'Account ' || g FROM generate_series(1, $2) g""",
        tenant_id, groups)
    await conn.execute(
        """INSERT INTO people (tenant_id, external_id, account_id)
           SELECT $1, a.external_id || '-' || n, a.id
             FROM accounts a, generate_series(1, $2) n WHERE a.tenant_id = $1""",
        tenant_id, per_group)
    await conn.execute(
        """INSERT INTO buying_groups (tenant_id, account_id, solution_interest_id,
                                      role_template_id, name)
           SELECT $1, a.id, $2, $3, 'S for ' || a.name FROM accounts a
            WHERE a.tenant_id = $1""", tenant_id, interest, template)
    await conn.execute(
        """INSERT INTO buying_group_members (tenant_id, buying_group_id, person_id,
                                             role_id, source)
           SELECT $1, g.id, p.id,
                  ($2::uuid[])[1 + abs(hashtext(p.external_id)) % 3], 'SYSTEM'
             FROM buying_groups g JOIN people p
               ON p.tenant_id = g.tenant_id AND p.account_id = g.account_id
            WHERE g.tenant_id = $1""", tenant_id, roles)
    today = datetime.now(UTC).date()
    await conn.execute(
        """INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, count)
           SELECT $1, p.external_id, 1 + (n * 7 + length(p.external_id)) % 38,
                  $2::date - ((n * 3) % 35), 1 + (n * 13 + length(p.external_id)) % 25
             FROM people p, generate_series(1, $3) n WHERE p.tenant_id = $1
           ON CONFLICT DO NOTHING""", tenant_id, today, days_per_person)


async def demo_groups(db: Database) -> tuple[UUID, str]:
    """A tenant with the demo catalogue and its groups generated (Cloud Platform over the Q4
    target accounts), and a READ key: the browse benchmarks' data. Run `vacuum_analyze` once
    the data is complete."""
    from jobs.runner import run_job
    from service.dev.demo import load_demo
    from service.infra.auth import Scope
    from service.store import jobs as job_store
    from service.store.api_keys import create_api_key
    from service.store.jobs import JobKind
    from service.store.tenants import create_tenant
    from service.usecases.unit_of_work import CLI, unit_of_work

    async with db.as_login() as conn:
        tenant = await create_tenant(conn, "Bench")
        _, key = await create_api_key(conn, tenant.id, "bench", {Scope.READ})
    async with unit_of_work(db, tenant.id, CLI) as work:
        await load_demo(work)
        interest = await work.conn.fetchval(
            "SELECT id FROM solution_interests WHERE name = 'Cloud Platform'")
        audience = await work.conn.fetchval(
            "SELECT id FROM account_lists WHERE name = 'Q4 target accounts'")
        job = await job_store.create_job(
            work.conn, tenant.id, JobKind.CREATE,
            {"solution_interest_id": str(interest), "account_list_id": str(audience)},
            solution_interest_id=interest)
    await run_job(db, job.id, lease_seconds=600)
    return tenant.id, key


async def vacuum_analyze(url: str) -> None:
    """What autovacuum does to a running service's tables: statistics (plans made without
    them, a table estimated at one row, are not the ones it gets) and the visibility map
    (without it an index-only scan, as of a count, reads the heap). Outside a transaction."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
