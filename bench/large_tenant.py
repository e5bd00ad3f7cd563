"""A day at a large tenant, end to end: load, generation, a day's sync, maintenance, full
rescoring, browse and overview under load, an export. Each phase's time is printed against its
floor measured in the same run, the worker's and the API's peak memory, the database's size per
million activities, and how each phase grows from a tenth of the sizes to the full sizes (goal:
<= 11x for 10x the data).

Every job runs as the worker runs it, in a process of its own (its peak memory is the worker's);
the API is served by `buying-groups serve` in another; the activity source is the simulator.
The 90 days of history are written by SQL (a set-up, timed but not a phase): a sync of 20
million activities is `bench.ingest_activities`'s rate times the count.

    .venv/bin/python -m bench.large_tenant [--people 1000000] [--accounts 50000]
        [--activities 20000000] [--days 90] [--only-full | --only-tenth]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from bench.common import fresh_database, servers
from bench.day_report import Phase, Report, Sizes, growth, people_pages, per_chunk, show
from bench.generate_groups import bare_insert
from bench.ingest_activities import bare_client, start_simulator
from bench.reads_under_load import reads_under_load
from bench.worker_process import measured
from service.dev.demo import TITLES, load_demo
from service.domain.conditions import ConditionGroup, Match
from service.infra.db import Connection, Database
from service.store import account_lists as list_store
from service.store import engagement as engagement_store
from service.store import jobs as job_store
from service.store import role_templates as template_store
from service.store import solution_interests as interest_store
from service.store.activities import (
    compact_tallies,
    ensure_partitions,
    month_start,
    rebuild_rollup,
)
from service.store.exports import ExportRequest, copy_out, export_query
from service.store.group_browse import GroupFilter
from service.store.jobs import JobKind
from service.store.tenants import create_tenant
from service.usecases import activity_ingest as ingestion
from service.usecases import exports as export_cases
from service.usecases.unit_of_work import CLI, unit_of_work

MEMBERS = ExportRequest("MEMBERS", "CSV", GroupFilter())
FIRST_LEAD = 100_000  # the simulator's lead ids are numbers: people are named so
SEED_CHUNK = 500_000  # activities written by one statement of the set-up


def write_csvs(folder: Path, sizes: Sizes) -> tuple[Path, Path]:
    accounts, people = folder / "accounts.csv", folder / "people.csv"
    with accounts.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["externalId", "name", "industry", "country"])
        for a in range(sizes.accounts):
            writer.writerow([f"LT{a}", f"Large {a}", ("Software", "Retail", "Banking")[a % 3],
                             "Sweden"])
    with people.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["externalId", "accountExternalId", "email", "jobTitle", "department",
                         "seniority"])
        for i in range(sizes.people):
            title, department, seniority, _ = TITLES[(i * 7) % len(TITLES)]
            writer.writerow([str(FIRST_LEAD + i), f"LT{i % sizes.accounts}",
                             f"p{i}@example.com", title, department, seniority])
    return accounts, people


def cli_import(url: str, tenant: UUID, kind: str, path: Path) -> float:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "service.cli", "import", kind, str(path), "--tenant",
                    str(tenant)], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started


async def load(db: Database, url: str, tenant: UUID, folder: Path, sizes: Sizes,
               report: Report) -> None:
    accounts, people = write_csvs(folder, sizes)
    took = cli_import(url, tenant, "accounts", accounts) + cli_import(url, tenant, "people",
                                                                      people)
    async with db.as_login() as conn:
        started = time.perf_counter()
        for path, columns in ((accounts, 4), (people, 6)):
            await conn.execute(f"CREATE TEMP TABLE scratch_{columns} ("
                               + ", ".join(f"c{i} text" for i in range(columns)) + ")")
            await conn.copy_to_table(f"scratch_{columns}", source=path, format="csv",
                                     header=True)
        floor = time.perf_counter() - started
    report.phases.append(Phase("load (CSV import of accounts and people)", took, floor,
                               "bare COPY of the files"))


async def seed_history(db: Database, tenant: UUID, sizes: Sizes, report: Report) -> None:
    """The days of activity before today, by SQL, their rollup (the product's rebuild) and
    their per-person tallies folded, and the source's types matched to the catalogue as the
    syncs of those days left them (without that, generation and maintenance score no
    activity and never read the rollup)."""
    from service.dev.simulator import COMMON, TYPES

    today = datetime.now(UTC).date()
    async with db.system() as conn:
        await ensure_partitions(conn, {month_start(today - timedelta(days=d))
                                       for d in range(sizes.days + 2)})
    started = time.perf_counter()
    for first in range(1, sizes.activities + 1, SEED_CHUNK):  # a statement's transition table
        async with db.tenant(tenant) as conn:                # (the tallies) stays in memory
            await conn.execute(
                """INSERT INTO activities (tenant_id, activity_date, source_id, lead_id,
                                           source_type_id, primary_attribute_value)
                   SELECT $1, now() - make_interval(secs => 86400.0 * (1 + n % $3) + n % 86400),
                          'H' || n, ($4 + (n * 7919) % $2)::text,
                          ($5::int[])[1 + n % cardinality($5::int[])], 'seeded'
                     FROM generate_series($6::bigint, $7::bigint) n""",
                tenant, sizes.people, sizes.days, FIRST_LEAD, list(COMMON),
                first, min(sizes.activities, first + SEED_CHUNK - 1))
    async with db.tenant(tenant) as conn:
        await rebuild_rollup(conn, tenant)
        # The worker folds the per-statement tally deltas every minute: the history's would
        # have been folded long ago, not left for the sync to insert into a huge index.
        await compact_tallies(conn, tenant)
    async with unit_of_work(db, tenant, CLI) as work:
        mapped = await ingestion.map_source_types(
            work, [{"id": i, "name": name} for i, name in TYPES.items()])
        assert mapped, "the demo catalogue matches none of the simulator's types"
    report.notes.append(f"set-up: {sizes.activities:,} activities over {sizes.days} days and "
                        f"their rollup written by SQL in {time.perf_counter() - started:.1f} s")


async def bare_generation(db: Database, tenant: UUID, interest: UUID, template: UUID,
                          role: UUID) -> float:
    """The floor of generation: the same groups and members written with no rule."""
    async with db.as_login() as conn:
        await conn.execute("DROP TABLE IF EXISTS g, m")
        await conn.execute("CREATE TEMP TABLE g AS SELECT * FROM buying_groups LIMIT 0")
        await conn.execute("CREATE TEMP TABLE m AS SELECT * FROM buying_group_members LIMIT 0")
        members = await conn.fetchval("SELECT count(*) FROM buying_group_members "
                                      "WHERE tenant_id = $1 AND NOT is_removed", tenant)
        return await bare_insert(conn, "g", "m", tenant, interest, template, role, members)


def one_day(source: str, sizes: Sizes) -> None:
    """The simulator serves a day of the tenant's people's activity, at the history's rate."""
    httpx.post(f"{source}/_sim/config", json={
        "reset": True, "synthetic": True, "leadRange": [FIRST_LEAD, FIRST_LEAD + sizes.people],
        "activityRate": sizes.activities / sizes.days / sizes.people, "historyDays": 1})


async def new_job(db: Database, tenant: UUID, kind: JobKind, payload: dict[str, str],
                  interest: UUID | None = None) -> str:
    async with db.tenant(tenant) as conn:
        job = await job_store.create_job(conn, tenant, kind, payload,
                                         solution_interest_id=interest)
    return str(job.id)


async def database_size(db: Database, tenant: UUID) -> float:
    async with db.as_login() as conn:
        activities = await conn.fetchval("SELECT count(*) FROM activities WHERE tenant_id = $1",
                                         tenant)
        size = await conn.fetchval(
            """SELECT sum(pg_total_relation_size(relid))
                 FROM (SELECT relid FROM pg_partition_tree('activities')
                       UNION ALL SELECT unnest(ARRAY['activity_daily', 'activity_tallies',
                                  'activity_tally_deltas']::regclass[])) r""")
    return float(size) / (int(activities) / 1_000_000)


async def time_reads(conn: Connection, report: Report) -> None:
    """Every later connection to the benchmark's database times its reads (a superuser's
    setting: without it, only the blocks are counted)."""
    name = await conn.fetchval("SELECT quote_ident(current_database())")
    try:
        await conn.execute(f"ALTER DATABASE {name} SET track_io_timing = on")
    except asyncpg.InsufficientPrivilegeError:
        report.notes.append("reads not timed: track_io_timing needs a superuser")


async def day(sizes: Sizes, services: Any, simulator_port: int) -> Report:
    report = Report(sizes)
    source = f"http://127.0.0.1:{simulator_port}"
    async with fresh_database(services) as (url, db):
        async with db.as_login() as conn:
            tenant = (await create_tenant(conn, "Large")).id
            # What the figures depend on most: how much of the data stays in shared buffers,
            # how often checkpoints come (each makes the next change of every page write the
            # whole page to the WAL), and whether autovacuum keeps pages all-visible (the
            # rollup's index-only reads) and statistics fresh.
            await time_reads(conn, report)
            settings = await conn.fetch(
                "SELECT name, current_setting(name) AS value FROM unnest($1::text[]) AS name",
                ["server_version", "shared_buffers", "max_wal_size", "checkpoint_timeout",
                 "work_mem", "max_parallel_workers", "autovacuum", "jit"])
            report.notes.append("server: " + ", ".join(f"{r['name']} {r['value']}"
                                                       for r in settings))
        async with unit_of_work(db, tenant, CLI) as work:
            await load_demo(work)  # its LIVE templates, its scoring model
        with tempfile.TemporaryDirectory() as folder:
            await load(db, url, tenant, Path(folder), sizes, report)
        await seed_history(db, tenant, sizes, report)
        async with db.pool.acquire() as raw:
            await raw.execute("VACUUM ANALYZE")
            pages = await raw.fetchval(
                "SELECT relpages FROM pg_class WHERE oid = 'people'::regclass")
        report.notes.append(people_pages(sizes, pages))

        # Generation: one group per account.
        async with db.tenant(tenant) as conn:
            template = (await template_store.list_templates(
                conn, tenant, search="Enterprise IT", status="LIVE", limit=1, after=None)
            ).items[0]
            interest = await interest_store.create_interest(
                conn, tenant, name="Large interest", description=None, products=[],
                role_template_id=template.id, stage_model_id=None, update_existing=False)
            audience = await list_store.create_list(
                conn, tenant, name="Everyone", description=None, kind="DYNAMIC",
                filter=ConditionGroup(Match.ALL, ()), account_ids=[])
        job = await new_job(db, tenant, JobKind.CREATE,
                            {"solution_interest_id": str(interest.id),
                             "account_list_id": str(audience.id)}, interest.id)
        took, _, memory, io = await measured(db, url, "run_job_here", job)
        report.notes.append(per_chunk("generation", took, sizes))
        floor = await bare_generation(db, tenant, interest.id, template.id,
                                      template.entries[0].role_id)
        report.phases.append(Phase(f"generation (CREATE, {sizes.accounts:,} accounts)", took,
                                   floor, "bare INSERT ... SELECT", memory, io))

        # A day's sync from the simulator.
        one_day(source, sizes)
        await bare_client(source)  # the simulator's cache, warm for both
        _, bare, _ = await bare_client(source)
        took, (ingested, rescored, rescoring), memory, io = await measured(
            db, url, "sync_here", str(tenant), source)
        report.phases.append(Phase(f"a day's sync ({ingested:,} activities)", took, bare,
                                   "a bare pager of the same source", memory, io))
        report.notes.append(f"the sync's rescoring of the {rescored:,} groups it touched: "
                            f"{rescoring:.2f} s of its {took:.2f} s")

        # Maintenance after a tenth of the people changed title.
        async with db.as_login() as conn:
            await conn.execute(
                """UPDATE people SET job_title = CASE WHEN job_title = 'Chief Executive Officer'
                                       THEN 'Intern' ELSE 'Chief Executive Officer' END
                    WHERE tenant_id = $1 AND abs(hashtext(external_id)) % 10 = 0""", tenant)
        job = await new_job(db, tenant, JobKind.MAINTAIN,
                            {"solution_interest_id": str(interest.id)}, interest.id)
        took, _, memory, io = await measured(db, url, "run_job_here", job)
        report.notes.append(per_chunk("maintenance", took, sizes))
        report.phases.append(Phase("maintenance (MAINTAIN, a tenth of the people retitled)",
                                   took, floor, "bare INSERT ... SELECT of generation", memory,
                                   io))

        # Full rescoring, against the bare aggregate over the rollup.
        async with db.tenant(tenant) as conn:
            start, end = (await engagement_store.scoring_inputs(conn, tenant)).window
            await conn.execute("SET LOCAL work_mem = '256MB'")  # as the rescoring gets
            started = time.perf_counter()
            await conn.fetch("""SELECT lead_id, sum(count) FROM activity_daily
                                 WHERE tenant_id = $1 AND day BETWEEN $2 AND $3
                                 GROUP BY lead_id""", tenant, start, end)
            bare = time.perf_counter() - started
        took, groups, memory, io = await measured(db, url, "rescore_here", str(tenant))
        report.phases.append(Phase(f"full rescoring ({groups:,} groups)", took, bare,
                                   "bare aggregate over the rollup", memory, io))

        await reads_under_load(db, url, services.redis_url, tenant, report)

        # An export of every group's members.
        async with db.tenant(tenant) as conn:
            export = await job_store.create_job(conn, tenant, JobKind.EXPORT,
                                                export_cases.payload(MEMBERS))
        took, _, memory, io = await measured(db, url, "run_job_here", str(export.id))
        sql, args = export_query(tenant, MEMBERS)

        async def discard(data: bytes) -> None:
            pass

        async with db.tenant(tenant, readonly=True) as conn:
            started = time.perf_counter()
            await copy_out(conn, sql, args, "CSV", discard)
            bare = time.perf_counter() - started
        report.phases.append(Phase("export of every group's members (CSV)", took, bare,
                                   "bare COPY of the same query", memory, io))
        report.bytes_per_million = await database_size(db, tenant)
    return report


async def main(sizes: Sizes, which: str) -> None:
    services = servers()
    port = 18_100 + (os.getpid() + 250) % 500
    simulator = start_simulator(port)
    try:
        runs = [] if which == "full" else [await day(sizes.tenth(), services, port)]
        show(runs[-1]) if runs else None
        if which != "tenth":
            runs.append(await day(sizes, services, port))
            show(runs[-1])
        if len(runs) == 2:
            growth(*runs)
    finally:
        simulator.terminate()
        services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--activities", type=int, default=20_000_000)
    parser.add_argument("--days", type=int, default=90)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--only-full", action="store_true")
    only.add_argument("--only-tenth", action="store_true")
    a = parser.parse_args()
    asyncio.run(main(Sizes(a.people, a.accounts, a.activities, a.days),
                     "full" if a.only_full else "tenth" if a.only_tenth else "both"))
