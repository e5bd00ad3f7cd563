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
from typing import Any
from uuid import UUID

from bench.common import build_groups, fresh_database, reused, servers
from service.api.overview import BOUNDS_SECONDS
from service.domain.bands import distinct_bounds, quantile_fractions
from service.infra.db import Database
from service.store.buying_groups import recompute_completeness
from service.store.overview import (
    OverviewFilter,
    band_counts,
    compact_tallies,
    overview,
    quantiles,
)
from service.store.tenants import create_tenant


async def build(conn: Any, groups: int) -> UUID:
    tenant = await create_tenant(conn, "Overview")
    tenant_id = tenant.id
    await build_groups(conn, tenant_id, groups, per_group=10, days_per_person=0)
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM buying_groups")]
    await recompute_completeness(conn, tenant_id, ids)  # fills filled_role_ids too
    model = await conn.fetchval(
        "INSERT INTO stage_models (tenant_id, name, status) VALUES ($1, 'M', 'LIVE') "
        "RETURNING id", tenant_id)
    stages = [await conn.fetchval(
        "INSERT INTO stages (tenant_id, stage_model_id, key, name, kind, position) "
        "VALUES ($1, $2, $3, $3, $4, $5) RETURNING id", tenant_id, model, key, kind, i)
        for i, (key, kind) in enumerate((("new", "ENTRY"), ("engaged", "INTERMEDIATE"),
                                         ("won", "SUCCESS"), ("lost", "FAILURE")))]
    await conn.execute(
        "UPDATE buying_groups SET stage_id = ($2::uuid[])[1 + abs(hashtext(name)) % 4] "
        "WHERE tenant_id = $1", tenant_id, stages)
    # Scores spread over the bands; creation dates over the last 90 days.
    await conn.execute(
        """UPDATE buying_groups SET completeness = abs(hashtext(id::text)) % 101,
                  engagement = abs(hashtext(name)) % 120,
                  created_at = now() - (abs(hashtext(id::text)) % 90) * interval '1 day'
            WHERE tenant_id = $1""", tenant_id)
    # Five industries, so that a filter on one selects a fifth of the groups.
    await conn.execute(
        "UPDATE accounts SET industry = (ARRAY['Mining', 'Retail', 'Energy', 'Banking', "
        "'Media'])[1 + abs(hashtext(name)) % 5] WHERE tenant_id = $1", tenant_id)
    await conn.execute("ANALYZE")
    return tenant_id


async def distribution_bands(conn: Any, tenant_id: UUID, f: OverviewFilter,
                             kept: list[float] | None) -> list[int]:
    """The default engagement bands: the quartiles of the groups above 0 (unless `kept`, as
    an API process keeps them for a few minutes), then the counts."""
    bounds = kept if kept is not None else distinct_bounds(
        await quantiles(conn, tenant_id, f, "engagement", quantile_fractions(4)))
    return await band_counts(conn, tenant_id, f, "engagement", bounds)


async def measure(db: Database, tenant_id: UUID, rounds: int, f: OverviewFilter,
                  with_distribution: bool = False, kept: list[float] | None = None
                  ) -> tuple[float, float]:
    """Medians of the bare count and the overview (with the engagement bands of the tenant's
    distribution, the API's default, if asked), run alternately."""
    bare, full = [], []
    for _ in range(rounds):
        async with db.tenant(tenant_id, readonly=True) as conn:
            t = time.perf_counter()
            await conn.fetch("SELECT stage_id, count(*) FROM buying_groups "
                             "WHERE tenant_id = $1 GROUP BY stage_id", tenant_id)
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            await overview(conn, tenant_id, f)
            if with_distribution:
                await distribution_bands(conn, tenant_id, f, kept)
            full.append(time.perf_counter() - t)
    return statistics.median(bare), statistics.median(full)


async def main(groups: int, rounds: int) -> None:
    services = servers()
    async with fresh_database(services) as (_, db):
        async with db.as_login() as conn:
            tenant_id = await reused(conn, "Overview")
            started = time.perf_counter()
            if tenant_id is None:
                tenant_id = await build(conn, groups)
        print(f"data: {groups} groups, {groups * 10} members "
              f"(built in {time.perf_counter() - started:.0f} s)")
        b, f = await measure(db, tenant_id, rounds, OverviewFilter())
        print(f"bare count(*) group by: {b * 1000:.0f} ms; overview: {f * 1000:.0f} ms "
              f"= {f / b:.2f}x (goal <= 3x), median of {rounds}")
        b, f = await measure(db, tenant_id, rounds, OverviewFilter(), with_distribution=True)
        print(f"with the engagement bands of the tenant's distribution (quartiles, the API's "
              f"default), finding the quartiles: bare {b * 1000:.0f} ms; overview "
              f"{f * 1000:.0f} ms = {f / b:.2f}x")
        async with db.tenant(tenant_id, readonly=True) as conn:
            kept = distinct_bounds(await quantiles(conn, tenant_id, OverviewFilter(),
                                                   "engagement", quantile_fractions(4)))
        b, f = await measure(db, tenant_id, rounds, OverviewFilter(), with_distribution=True,
                             kept=kept)
        print(f"the same with the quartiles kept (each API process keeps them "
              f"{BOUNDS_SECONDS:.0f} s): bare {b * 1000:.0f} ms; overview {f * 1000:.0f} ms "
              f"= {f / b:.2f}x (goal <= 3x)")
        # Single-group writes leave deltas in the tallies until the worker folds them.
        async with db.tenant(tenant_id) as conn:
            stages = [r["id"] for r in await conn.fetch("SELECT id FROM stages")]
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM buying_groups LIMIT 1000")]
            for n, group in enumerate(ids):
                await conn.execute("UPDATE buying_groups SET stage_id = $2 WHERE id = $1",
                                   group, stages[n % len(stages)])
            deltas = await conn.fetchval("SELECT count(*) FROM buying_group_tallies")
        b, f = await measure(db, tenant_id, rounds, OverviewFilter())
        print(f"after 1,000 single-group writes ({deltas} tally rows): bare {b * 1000:.0f} ms; "
              f"overview {f * 1000:.0f} ms = {f / b:.2f}x")
        async with db.tenant(tenant_id) as conn:
            await compact_tallies(conn, tenant_id)
        # Account attributes are not tallied: these filters scan the groups.
        for industries in (["Mining"], ["Mining", "Retail", "Energy", "Banking"], ["none"]):
            b, f = await measure(db, tenant_id, rounds, OverviewFilter(industries=industries))
            print(f"filtered by industry {industries} (scans the groups): bare {b * 1000:.0f} "
                  f"ms; overview {f * 1000:.0f} ms = {f / b:.2f}x")
    services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.groups, args.rounds))
