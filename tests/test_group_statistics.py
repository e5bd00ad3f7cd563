"""A job that writes many groups and members leaves the planner's statistics of them fresh:
without, the pages of groups read right after a large CREATE were planned as for empty tables
(every person of the table hashed for a page of 50 groups' members)."""

from __future__ import annotations

import asyncpg

from service.dev.embedded import EmbeddedServices
from service.infra.config import Settings
from tests.support import (
    GraphQLClient,
    app_with,
    generate,
    make_tenant_at,
    scratch_database,
    setup_catalogue,
)


async def planned(owner: str) -> dict[str, float]:
    """What the planner believes each table holds (ANALYZE sets it in the catalogue)."""
    conn = await asyncpg.connect(owner)
    try:
        rows = await conn.fetch("SELECT relname, reltuples FROM pg_class WHERE relname IN "
                                "('buying_groups', 'buying_group_members')")
    finally:
        await conn.close()
    return {r["relname"]: float(r["reltuples"]) for r in rows}


async def test_a_large_create_job_leaves_fresh_statistics(
    servers: EmbeddedServices, settings: Settings
) -> None:
    """400 accounts, three members each: 1,200 members written (past the 1,000 that make a
    job analyze), 400 groups (short of them). A database of its own: no other test's
    statistics or rows."""
    async with scratch_database(servers) as (owner, service):
        tenant = await make_tenant_at(owner, "Grown by a job")
        own = settings.model_copy(update={"database_url": service})
        async with app_with(own) as client:
            gql = GraphQLClient(client)
            cat = await setup_catalogue(gql, tenant.write, accounts=400)
            before = await planned(owner)
            job = await generate(gql, own, tenant.write, cat["si"], cat["list"])
        assert job["status"] == "SUCCEEDED", job
        after = await planned(owner)
        assert before["buying_group_members"] <= 0
        assert after["buying_group_members"] == 1200
        assert after["buying_groups"] == before["buying_groups"]
