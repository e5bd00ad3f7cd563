"""Full rescoring: every group of a tenant at once — 100,000 groups, 1,000,000 members,
10,000,000 activity-days at --scale 1 — against a bare aggregate over the same rollup in the
same run (goal <= 2.5x).

    .venv/bin/python -m bench.rescore_all [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import timedelta

from bench.common import fresh_database, servers
from service.store import engagement as engagement_store
from service.store.tenants import create_tenant


async def main(scale: float) -> None:
    groups = int(100_000 * scale)
    per_group = 10
    days_per_person = 10
    services = servers()
    async with fresh_database(services) as (_, db):
        async with db.system() as conn:
            tenant = await create_tenant(conn, "Rescore")
            await conn.execute("UPDATE activity_types SET source_type_id = n FROM ("
                               "SELECT id, row_number() OVER (ORDER BY name) AS n "
                               "FROM activity_types WHERE tenant_id = $1) t "
                               "WHERE activity_types.id = t.id", tenant.id)
            started = time.perf_counter()
            roles = [r["id"] for r in await conn.fetch(
                "SELECT id FROM roles WHERE tenant_id = $1 ORDER BY position LIMIT 3", tenant.id)]
            template = await conn.fetchval(
                "INSERT INTO role_templates (tenant_id, name, status) VALUES ($1, 'T', 'LIVE') "
                "RETURNING id", tenant.id)
            for position, (role, weighting) in enumerate(zip(
                    roles, ("VITAL", "IMPORTANT", "NORMAL"), strict=True)):
                await conn.execute(
                    "INSERT INTO role_template_entries (tenant_id, role_template_id, position, "
                    "role_id, weighting) VALUES ($1, $2, $3, $4, $5)", tenant.id, template,
                    position, role, weighting)
            interest = await conn.fetchval(
                "INSERT INTO solution_interests (tenant_id, name, role_template_id) "
                "VALUES ($1, 'S', $2) RETURNING id", tenant.id, template)
            await conn.execute(
                """INSERT INTO accounts (tenant_id, external_id, name)
                   SELECT $1, 'A' || g, 'Account ' || g FROM generate_series(1, $2) g""",
                tenant.id, groups)
            await conn.execute(
                """INSERT INTO people (tenant_id, external_id, account_id)
                   SELECT $1, a.external_id || '-' || n, a.id
                     FROM accounts a, generate_series(1, $2) n WHERE a.tenant_id = $1""",
                tenant.id, per_group)
            await conn.execute(
                """INSERT INTO buying_groups (tenant_id, account_id, solution_interest_id,
                                              role_template_id, name)
                   SELECT $1, a.id, $2, $3, 'S for ' || a.name FROM accounts a
                    WHERE a.tenant_id = $1""", tenant.id, interest, template)
            await conn.execute(
                """INSERT INTO buying_group_members (tenant_id, buying_group_id, person_id,
                                                     role_id, source)
                   SELECT $1, g.id, p.id,
                          ($2::uuid[])[1 + abs(hashtext(p.external_id)) % 3], 'SYSTEM'
                     FROM buying_groups g JOIN people p
                       ON p.tenant_id = g.tenant_id AND p.account_id = g.account_id
                    WHERE g.tenant_id = $1""", tenant.id, roles)
            today = engagement_store.tenant_today("UTC")
            await conn.execute(
                """INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, count)
                   SELECT $1, p.external_id, 1 + (n * 7 + length(p.external_id)) % 38,
                          $2::date - ((n * 3) % 35), 1 + (n * 13 + length(p.external_id)) % 25
                     FROM people p, generate_series(1, $3) n WHERE p.tenant_id = $1
                   ON CONFLICT DO NOTHING""", tenant.id, today, days_per_person)
            await conn.execute("ANALYZE")
            rows = await conn.fetchval("SELECT count(*) FROM activity_daily")
            members = await conn.fetchval("SELECT count(*) FROM buying_group_members")
        print(f"data: {groups} groups, {members} members, {rows} activity-days "
              f"(built in {time.perf_counter() - started:.0f} s)")
        async with db.tenant(tenant.id) as conn:
            inputs = await engagement_store.scoring_inputs(conn, tenant.id)
            start, end = inputs.window
            await conn.execute("SET LOCAL work_mem = '256MB'")  # as the rescoring gets
            started = time.perf_counter()
            await conn.fetch(
                """SELECT lead_id, sum(count) FROM activity_daily
                    WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 GROUP BY lead_id""",
                tenant.id, start, end)
            bare = time.perf_counter() - started
        if os.environ.get("EXPLAIN"):
            async with db.tenant(tenant.id) as conn:
                ids, factors, caps = engagement_store.scored_source_types(inputs)
                plan = await conn.fetch("EXPLAIN (ANALYZE) " + engagement_store._REFRESH,
                                        tenant.id, None, ids, factors, caps, start, end)
                print("\n".join(r[0] for r in plan))
        async with db.tenant(tenant.id) as conn:
            started = time.perf_counter()
            changes = await engagement_store.refresh_engagement(conn, tenant.id, inputs)
            full = time.perf_counter() - started
    assert len(changes) == groups
    assert start == today - timedelta(days=inputs.window_days - 1)
    print(f"bare aggregate over the rollup: {bare:.2f} s")
    print(f"full rescoring of {groups} groups (with history snapshots): {full:.2f} s "
          f"= {full / bare:.2f}x the bare aggregate (goal <= 2.5x)")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    asyncio.run(main(parser.parse_args().scale))
