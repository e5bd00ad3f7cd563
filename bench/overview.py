"""The overview over 100,000 buying groups (with members, completeness, engagement and a stage
spread) against one bare `count(*) ... GROUP BY` over the same table in the same run (goal <=
3x).

    .venv/bin/python -m bench.overview [--groups 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.common import build_groups, fresh_database, servers
from service.store.buying_groups import recompute_completeness
from service.store.overview import OverviewFilter, overview
from service.store.tenants import create_tenant


async def main(groups: int, rounds: int) -> None:
    services = servers()
    async with fresh_database(services) as (_, db):
        async with db.system() as conn:
            tenant = await create_tenant(conn, "Overview")
            started = time.perf_counter()
            await build_groups(conn, tenant.id, groups, per_group=10, days_per_person=0)
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM buying_groups")]
            await recompute_completeness(conn, tenant.id, ids)  # fills filled_role_ids too
            model = await conn.fetchval(
                "INSERT INTO stage_models (tenant_id, name, status) VALUES ($1, 'M', 'LIVE') "
                "RETURNING id", tenant.id)
            stages = [await conn.fetchval(
                "INSERT INTO stages (tenant_id, stage_model_id, key, name, kind, position) "
                "VALUES ($1, $2, $3, $3, $4, $5) RETURNING id", tenant.id, model, key, kind, i)
                for i, (key, kind) in enumerate((("new", "ENTRY"), ("engaged", "INTERMEDIATE"),
                                                 ("won", "SUCCESS"), ("lost", "FAILURE")))]
            await conn.execute(
                "UPDATE buying_groups SET stage_id = ($2::uuid[])[1 + abs(hashtext(name)) % 4] "
                "WHERE tenant_id = $1", tenant.id, stages)
            # Scores spread over the bands; creation dates over the last 90 days.
            await conn.execute(
                """UPDATE buying_groups SET completeness = abs(hashtext(id::text)) % 101,
                          engagement = abs(hashtext(name)) % 120,
                          created_at = now() - (abs(hashtext(id::text)) % 90) * interval '1 day'
                    WHERE tenant_id = $1""", tenant.id)
            await conn.execute("ANALYZE")
        print(f"data: {groups} groups, {groups * 10} members "
              f"(built in {time.perf_counter() - started:.0f} s)")
        bare, full = [], []
        for _ in range(rounds):
            async with db.tenant(tenant.id, readonly=True) as conn:
                t = time.perf_counter()
                await conn.fetch("SELECT stage_id, count(*) FROM buying_groups "
                                 "WHERE tenant_id = $1 GROUP BY stage_id", tenant.id)
                bare.append(time.perf_counter() - t)
                t = time.perf_counter()
                result = await overview(conn, tenant.id, OverviewFilter())
                full.append(time.perf_counter() - t)
    assert result.total == groups
    b, f = statistics.median(bare), statistics.median(full)
    print(f"bare count(*) group by: {b * 1000:.0f} ms; overview: {f * 1000:.0f} ms "
          f"= {f / b:.2f}x (goal <= 3x), median of {rounds}")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.groups, args.rounds))
