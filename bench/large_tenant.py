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
import multiprocessing
import os
import queue
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from bench.common import fresh_database, servers, started
from bench.day_report import Io, Phase, Report, Sizes, growth, people_pages, per_chunk, show
from bench.generate_groups import bare_insert
from bench.ingest_activities import bare_client, start_simulator
from service.dev.demo import TITLES, load_demo
from service.domain.conditions import ConditionGroup, Match
from service.infra.auth import Scope
from service.infra.db import Connection, Database, create_pool
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
from service.store.api_keys import create_api_key
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
BROWSE = """query Browse { buyingGroups(first: 50, orderBy: {field: NAME}) { totalCount
  nodes { name account { name } completeness { value } engagement { value }
          members(first: 20) { nodes { role { name } person { externalId jobTitle } } } } } }"""
OVERVIEW = """query Overview { buyingGroupsOverview { total averageEngagement
  byStage { count } engagementBands { count } roleCoverage { filled } topEngaged { name } } }"""


# --- jobs in a process of their own, as the worker runs them ---------------------------------

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
    """`target(db, *args)` in a fresh process: its seconds, its answer, its peak RSS (MiB);
    `running` (an Event of the spawn context) is set when the target starts."""
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


# --- the phases ------------------------------------------------------------------------------

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


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


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
        report.api_peak_mib = peak_rss_mib(api.pid)
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
