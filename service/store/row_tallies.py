"""How many rows a tenant has in a table, from the running tallies of migration 0018 (people
and accounts) and 0007 (buying groups): an unfiltered page counts its rows from a few tally
rows instead of scanning the table, in the page's own snapshot. And which tenants' tally
deltas are due to be folded."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from service.infra.db import Connection

Tallied = Literal["people", "accounts", "buying_groups"]


def tally_sql(table: Tallied, tenant: str) -> str:
    """A statement giving the tenant's row count of `table` (`tenant`: its bound parameter)."""
    if table == "buying_groups":
        return ("SELECT coalesce(sum(groups), 0)::bigint FROM buying_group_tallies "
                f"WHERE tenant_id = {tenant}")
    return (f"SELECT coalesce(sum(rows), 0)::bigint FROM row_tallies WHERE tenant_id = {tenant} "
            f"AND table_name = '{table}'")


async def rows_of(conn: Connection, tenant_id: UUID, table: Tallied) -> int:
    """The tenant's row count of `table`."""
    count: int = await conn.fetchval(tally_sql(table, "$1"), tenant_id)
    return count


async def compact(conn: Connection, tenant_id: UUID) -> None:
    """Fold the tenant's deltas into one row per table."""
    await conn.execute("SELECT compact_row_tallies($1)", tenant_id)


# The tables of deltas that compaction folds: the overview's (0007), the row counts' (0018)
# and the activity counts' (0019).
DeltaTable = Literal["buying_group_tallies", "row_tallies", "activity_tally_deltas"]


async def tenants_to_compact(conn: Connection, table: DeltaTable, min_rows: int) -> list[UUID]:
    """Tenants with more than `min_rows` rows in `table` (deltas waiting to be folded); the
    system role may read only the tenant column of these tables."""
    rows = await conn.fetch(
        f"SELECT tenant_id FROM {table} GROUP BY tenant_id HAVING count(*) > $1", min_rows)
    return [r["tenant_id"] for r in rows]
