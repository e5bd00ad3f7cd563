"""Nested first pages at scale (#21): a page of 50 accounts with the first 10 of each one's
people, and a page of 50 people with the first 5 of each one's activities, where every account
has 2,000 people and every person 2,000 activities. Each is read by the store's statement
(each list's page from an index in its order, its count from the index alone) and by the
statement it replaced (a window over every row of each list, which reads and sorts all of
them), in the same run, on the same data; the ratio is now / before. "Now" is the store's
function, rows converted to objects included; "before" is the bare statement, so the ratio
flatters the old statement.

    .venv/bin/python -m bench.nested_pages [--per-list 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import fresh_database, servers
from service.store.activities import ensure_partitions, first_pages_of_leads, month_start
from service.store.people import FIELDS, people_pages_by_account
from service.store.tenants import create_tenant

ORDER = "lower(coalesce(p.last_name, '')), lower(coalesce(p.first_name, '')), p.id"
# The statements before migration 0017 and this round's store changes.
PEOPLE_BEFORE = f"""SELECT q.account, c.total, {', '.join('c.' + f for f in FIELDS)}
  FROM unnest($2::uuid[]) AS q (account) CROSS JOIN LATERAL (
      SELECT p.*, count(*) OVER () AS total FROM people p
       WHERE p.tenant_id = $1 AND p.account_id = q.account ORDER BY {ORDER} LIMIT $3) c"""
ACTIVITIES_BEFORE = """SELECT activity_date, source_id, lead_id, source_type_id,
       primary_attribute_value, attributes, position, total
  FROM (SELECT a.*, row_number() OVER (PARTITION BY lead_id
                                       ORDER BY activity_date DESC, source_id DESC) AS position,
               count(*) OVER (PARTITION BY lead_id) AS total
          FROM activities a WHERE tenant_id = $1 AND lead_id = ANY($2::text[])
           AND ($3::timestamptz IS NULL OR activity_date >= $3)) ranked
 WHERE position <= $4 ORDER BY lead_id, position"""


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main(per_list: int, runs: int) -> None:
    services = servers()
    async with fresh_database(services) as (_, db):
        async with db.as_login() as conn:
            tenant = (await create_tenant(conn, "Nested")).id
        today = datetime.now(UTC).date()
        async with db.system() as conn:  # the activities span a few months' partitions
            await ensure_partitions(conn, {month_start(today - timedelta(days=n))
                                           for n in range(0, per_list // 24 + 2)})
        async with db.tenant(tenant) as conn:
            accounts = [r["id"] for r in await conn.fetch(
                """INSERT INTO accounts (tenant_id, external_id, name)
                   SELECT $1, 'A' || n, 'Account ' || n FROM generate_series(1, 50) n
                   RETURNING id""", tenant)]
            await conn.execute(
                """INSERT INTO people (tenant_id, external_id, account_id, first_name, last_name)
                   SELECT $1, a.n || '-' || i, a.id, 'F' || i, 'L' || md5(i::text)
                     FROM unnest($2::uuid[]) WITH ORDINALITY AS a (id, n),
                          generate_series(1, $3) i""", tenant, accounts, per_list)
            leads = [f"1-{n}" for n in range(1, 51)]  # the first account's first 50 people
            await conn.execute(
                """INSERT INTO activities (tenant_id, activity_date, source_id, lead_id,
                                           source_type_id, primary_attribute_value)
                   SELECT $1, now() - make_interval(hours => n), l || ':' || n, l, 1, 'x'
                     FROM unnest($2::text[]) l, generate_series(1, $3) n""",
                tenant, leads, per_list)
        async with db.pool.acquire() as raw:  # outside a transaction, as autovacuum would
            await raw.execute("VACUUM ANALYZE people")
            await raw.execute("VACUUM ANALYZE activities")
        async with db.tenant(tenant, readonly=True) as conn:
            rows = {
                "people": (
                    await timed(runs, lambda: people_pages_by_account(conn, tenant, accounts,
                                                                      10)),
                    await timed(runs, lambda: conn.fetch(PEOPLE_BEFORE, tenant, accounts, 10))),
                "activities": (
                    await timed(runs, lambda: first_pages_of_leads(conn, tenant, leads,
                                                                   since=None, limit=5)),
                    await timed(runs, lambda: conn.fetch(ACTIVITIES_BEFORE, tenant, leads,
                                                         None, 5))),
            }
            uncounted = await timed(runs, lambda: first_pages_of_leads(
                conn, tenant, leads, since=None, limit=5, counted=False))
    print(f"50 lists of {per_list} rows each, the first page of each ({runs} runs, p50):")
    for name, (now, before) in rows.items():
        size = 10 if name == "people" else 5
        print(f"  first {size} {name} of each of 50: now {now:.2f} ms, before {before:.2f} ms "
              f"(now / before {now / before:.2f}x)")
    counted = rows["activities"][0]
    print(f"  first 5 activities of each of 50, no totalCount selected: {uncounted:.2f} ms "
          f"({uncounted / counted:.2f}x the counted pages)")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-list", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.per_list, args.runs))
