"""A bulk import keeps the planner's statistics of accounts and people fresh as they grow:
without, the plans of a new tenant's import, made from a nearly empty table, read the whole
table for every batch (an import's time grew with the square of its size)."""

from __future__ import annotations

import csv
from pathlib import Path

from service.cli.importer import import_csv
from service.infra.db import Database
from tests.support import TenantKeys


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
    before, _ = await planned_and_stored(db)
    few = write(tmp_path / "few.csv", ["externalId", "accountExternalId"],
                [[f"s-{i}", f"S{i % 100}"] for i in range(2_000)])
    await import_csv(db, tenant.id, "people", few)
    assert (await planned_and_stored(db))[0] == before  # a small import asks for nothing
    _, stored = await planned_and_stored(db)
    many = write(tmp_path / "many.csv", ["externalId", "accountExternalId"],
                 [[f"m-{i}", f"S{i % 100}"] for i in range(12_000)])
    summary = await import_csv(db, tenant.id, "people", many)
    assert summary.written == 12_000
    # Refreshed when the import had written 10,000: the planner knows them.
    planned, _ = await planned_and_stored(db)
    assert planned >= stored + 10_000
