"""CSV import of people: rows per second and peak memory of `buying-groups import people`, at
two sizes (memory should stay flat as the file grows 10x), against a bare `COPY` of the same
file into a scratch table in the same run.

    .venv/bin/python -m bench.import_people [--rows 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import fresh_database, servers
from service.dev.demo import FIRST, LAST, TITLES
from service.store.tenants import create_tenant
from service.usecases.catalogue import upsert_accounts
from service.usecases.unit_of_work import CLI, unit_of_work

ACCOUNTS = 1000


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["externalId", "accountExternalId", "firstName", "lastName", "email",
                         "jobTitle", "department", "seniority", "country", "attributes.source"])
        for i in range(rows):
            title, department, seniority, _ = TITLES[i % len(TITLES)]
            first, last = FIRST[i % len(FIRST)], LAST[(i // 7) % len(LAST)]
            writer.writerow([f"L{i}", f"A{i % ACCOUNTS}", first, last, f"p{i}@example.com",
                             title, department, seniority, "Sweden", "csv"])


def run_import(url: str, tenant: str, path: Path) -> tuple[float, int, str]:
    """Seconds and peak RSS (KiB) of one import in a fresh process."""
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "import", "people", str(path), "--tenant", tenant],
        env=env, capture_output=True, text=True, check=True,
    )
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far; sizes run small first, so it grows.
    return elapsed, max(peak, before), result.stderr.strip().splitlines()[-1]


async def main(rows: int) -> None:
    services = servers()
    async with fresh_database(services) as (url, db):
        async with db.as_login() as conn:
            tenant = await create_tenant(conn, "Bench")
        async with unit_of_work(db, tenant.id, CLI) as work:
            await upsert_accounts(work, [{"externalId": f"A{i}", "name": f"A {i}"}
                                                    for i in range(ACCOUNTS)])
        with tempfile.TemporaryDirectory() as tmp:
            small, large = Path(tmp) / "small.csv", Path(tmp) / "large.csv"
            write_csv(small, rows // 10)
            write_csv(large, rows)
            small_s, small_rss, _ = run_import(url, str(tenant.id), small)
            large_s, large_rss, summary = run_import(url, str(tenant.id), large)
            async with db.as_login() as conn:
                await conn.execute("CREATE TEMP TABLE scratch (external_id text, account text, "
                                   "first text, last text, email text, title text, dept text, "
                                   "seniority text, country text, source text)")
                started = time.perf_counter()
                await conn.copy_to_table("scratch", source=large, format="csv",
                                         header=True)
                copy_s = time.perf_counter() - started
    print(f"import {rows // 10:>7} people: {small_s:6.2f} s, peak RSS {small_rss / 1024:6.1f} MiB")
    print(f"import {rows:>7} people: {large_s:6.2f} s, peak RSS {large_rss / 1024:6.1f} MiB "
          f"({rows / large_s:,.0f} rows/s)  [{summary}]")
    print(f"bare COPY of the same file: {copy_s:.2f} s; import / COPY = {large_s / copy_s:.1f}x")
    print(f"memory growth for 10x the rows: {large_rss / small_rss:.2f}x")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().rows))
