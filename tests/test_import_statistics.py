"""A bulk import keeps the planner's statistics of accounts and people fresh as they grow:
without, the plans of a new tenant's import, made from a nearly empty table, read the whole
table for every batch (an import's time grew with the square of its size)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import asyncpg

from service.cli.importer import import_csv
from service.dev.embedded import EmbeddedServices
from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    GraphQLClient,
    TenantKeys,
    app_with,
    make_tenant_at,
    scratch_database,
    upsert_accounts,
    upsert_people,
)


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


async def planned_and_stored(db: Database) -> tuple[float, int]:
    """The planner's row count of people (ANALYZE sets it, in the catalogue, at once) and the
    true count."""
    async with db.as_login() as conn:
        planned = await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'people'")
        stored = await conn.fetchval("SELECT count(*) FROM people")
    return float(planned), int(stored)


async def test_an_import_refreshes_the_statistics_as_it_grows(
    db: Database, tenant: TenantKeys, tmp_path: Path
) -> None:
    accounts = write(tmp_path / "a.csv", ["externalId", "name"],
                     [[f"S{i}", f"Stat {i}"] for i in range(100)])
    await import_csv(db, tenant.id, "accounts", accounts)
    few = write(tmp_path / "few.csv", ["externalId", "accountExternalId"],
                [[f"s-{i}", f"S{i % 100}"] for i in range(2_000)])
    await import_csv(db, tenant.id, "people", few)
    _, stored = await planned_and_stored(db)
    many = write(tmp_path / "many.csv", ["externalId", "accountExternalId"],
                 [[f"m-{i}", f"S{i % 100}"] for i in range(12_000)])
    summary = await import_csv(db, tenant.id, "people", many)
    assert summary.written == 12_000
    # Refreshed when the import had written 10,000: the planner knows them.
    planned, _ = await planned_and_stored(db)
    assert planned >= stored + 10_000


async def test_a_tenant_grown_through_the_api_gets_fresh_statistics(
    servers: EmbeddedServices, settings: Settings
) -> None:
    """Upserts through the API: after the write that takes the tenant past ten times what the
    planner estimates for it, the estimate is right (a database of its own: another test's
    ANALYZE within the minute would hold this one back)."""
    async with scratch_database(servers) as (owner, service):
        tenant = await make_tenant_at(owner, "Grown by API")

        async def estimate() -> float:
            conn = await asyncpg.connect(owner)
            try:
                plan = await conn.fetchval(
                    "EXPLAIN (FORMAT JSON) SELECT 1 FROM people WHERE tenant_id = $1",
                    tenant.id)
            finally:
                await conn.close()
            return float(json.loads(plan)[0]["Plan"]["Plan Rows"])

        async with app_with(settings.model_copy(update={"database_url": service})) as client:
            gql = GraphQLClient(client)
            await upsert_accounts(gql, tenant.write, [
                {"externalId": f"G{i}", "name": f"Grown {i}"} for i in range(200)])
            assert await estimate() < 100
            for start in (0, 1000):
                await upsert_people(gql, tenant.write, [
                    {"externalId": f"g-{i}", "accountExternalId": f"G{i % 200}"}
                    for i in range(start, start + 1000)])
        assert await estimate() >= 1000
