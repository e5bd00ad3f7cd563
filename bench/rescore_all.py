"""Full rescoring: every group of a tenant at once — 100,000 groups, 1,000,000 members,
10,000,000 activity-days at --scale 1 — against a bare aggregate over the same rollup in the
same run (goal <= 2.5x).

    .venv/bin/python -m bench.rescore_all [--scale 1.0] [--connections 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

from bench.common import build_groups, fresh_database, reused, servers
from jobs.rescoring import rescore
from service.store import engagement as engagement_store
from service.store.tenants import create_tenant
from service.usecases.unit_of_work import SYSTEM


async def build(conn: Any, groups: int, per_group: int, days_per_person: int) -> UUID:
    tenant = await create_tenant(conn, "Rescore")
    await conn.execute("UPDATE activity_types SET source_type_id = n FROM ("
                       "SELECT id, row_number() OVER (ORDER BY name) AS n "
                       "FROM activity_types WHERE tenant_id = $1) t "
                       "WHERE activity_types.id = t.id", tenant.id)
    await build_groups(conn, tenant.id, groups, per_group, days_per_person)
    await conn.execute("ANALYZE")
    return tenant.id


async def main(scale: float, connections: int) -> None:
    groups = int(100_000 * scale)
    per_group = 10
    days_per_person = 10
    services = servers()
    async with fresh_database(services) as (_, db):
        async with db.as_login() as conn:
            tenant_id = await reused(conn, "Rescore")
            started = time.perf_counter()
            if tenant_id is None:
                tenant_id = await build(conn, groups, per_group, days_per_person)
            else:  # as the first run found them: every score changes
                await conn.execute("UPDATE buying_groups SET engagement = 0")
                await conn.execute("DELETE FROM buying_group_score_history")
            rows = await conn.fetchval("SELECT count(*) FROM activity_daily")
            members = await conn.fetchval("SELECT count(*) FROM buying_group_members")
        # Every measurement below sees tables in the same state: hint bits set and the
        # visibility map current (a freshly built rollup would otherwise make the first query
        # over it, the baseline, pay for setting them), earlier runs' dead rows gone.
        async with db.pool.acquire() as raw:
            await raw.execute("VACUUM ANALYZE")
        print(f"data: {groups} groups, {members} members, {rows} activity-days "
              f"(built in {time.perf_counter() - started:.0f} s)")
        async with db.tenant(tenant_id) as conn:
            inputs = await engagement_store.scoring_inputs(conn, tenant_id)
            start, end = inputs.window
            await conn.execute("SET LOCAL work_mem = '256MB'")  # as the rescoring gets
            started = time.perf_counter()
            await conn.fetch(
                """SELECT lead_id, sum(count) FROM activity_daily
                    WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 GROUP BY lead_id""",
                tenant_id, start, end)
            bare = time.perf_counter() - started
        if os.environ.get("EXPLAIN"):
            async with db.tenant(tenant_id) as conn:
                await conn.execute("SET LOCAL enable_nestloop = off")
                await conn.execute("SET LOCAL work_mem = '256MB'")
                plan = await conn.fetch("EXPLAIN (ANALYZE) " + engagement_store._SCORE_ALL,
                                        tenant_id, None,
                                        *engagement_store.scoring_parameters(inputs))
                print("\n".join(r[0] for r in plan))
        # Where the time goes: the scores alone (into the temporary table), then the whole job.
        async with db.tenant(tenant_id) as conn:
            started = time.perf_counter()
            await engagement_store.score_all(conn, tenant_id, inputs)
            scoring = time.perf_counter() - started
        started = time.perf_counter()
        changes = await rescore(db, tenant_id, None, actor=SYSTEM, connections=connections)
        full = time.perf_counter() - started
        # The sync's path: only the groups whose members got activity.
        async with db.tenant(tenant_id) as conn:
            some = [r["id"] for r in await conn.fetch(
                "SELECT id FROM buying_groups ORDER BY random() LIMIT 100")]
            started = time.perf_counter()
            await engagement_store.refresh_engagement(conn, tenant_id, inputs, some)
            partial = time.perf_counter() - started
    assert changes == groups
    assert end - start == timedelta(days=inputs.window_days - 1)
    print(f"bare aggregate over the rollup: {bare:.2f} s")
    print(f"full rescoring of {groups} groups (the nightly job: scores, history snapshots, "
          f"stage entry rules, overview tallies; writing on {connections} connections): "
          f"{full:.2f} s = {full / bare:.2f}x the bare aggregate (goal <= 2.5x); of which "
          f"computing the scores alone {scoring:.2f} s ({scoring / bare:.2f}x)")
    print(f"rescoring 100 groups (the path after a sync): {partial * 1000:.0f} ms")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=2,
                        help="connections the scores are written on (RESCORE_CONNECTIONS)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.scale, arguments.connections))
