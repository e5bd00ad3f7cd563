"""The maintained row counts of people and accounts (migration 0018) equal counting the
tables, after any sequence of upserts, deletes, cascades and compactions; and an unfiltered
page's totalCount comes from them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.worker import TALLY_ROWS_BEFORE_COMPACTION, compact_tallies
from service.infra.db import Database
from service.store import row_tallies
from tests.support import GraphQLClient, Scenario, TenantKeys, upsert_accounts, upsert_people

IDS = st.lists(st.integers(0, 9), max_size=6)
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("upsert_accounts"), IDS),
    st.tuples(st.just("upsert_people"), IDS, st.integers(0, 9)),
    st.tuples(st.just("delete_people"), IDS),
    st.tuples(st.just("delete_account"), st.integers(0, 9)),  # its people go with it
    st.tuples(st.just("compact"),),
), max_size=20)


async def apply(conn: Any, tenant: Any, operations: list[tuple[Any, ...]]) -> None:
    for op, *args in operations:
        if op == "upsert_accounts":
            # One statement; rows already there are updates (in no INSERT transition table).
            await conn.execute(
                "INSERT INTO accounts (tenant_id, external_id, name) "
                "SELECT $1, 'a' || i, 'A' || i FROM unnest($2::int[]) AS i GROUP BY i "
                "ON CONFLICT (tenant_id, external_id) DO UPDATE SET name = excluded.name || '!'",
                tenant, args[0])
        elif op == "upsert_people":
            await conn.execute(
                "INSERT INTO people (tenant_id, external_id, account_id) "
                "SELECT $1, 'p' || i, a.id FROM unnest($2::int[]) AS i "
                "JOIN accounts a ON a.tenant_id = $1 AND a.external_id = 'a' || $3::int "
                "GROUP BY i, a.id "
                "ON CONFLICT (tenant_id, external_id) DO UPDATE SET job_title = 'again'",
                tenant, args[0], args[1])
        elif op == "delete_people":
            await conn.execute("DELETE FROM people WHERE external_id = ANY($1::text[])",
                               [f"p{i}" for i in args[0]])
        elif op == "delete_account":
            await conn.execute("DELETE FROM accounts WHERE external_id = $1", f"a{args[0]}")
        else:
            await row_tallies.compact(conn, tenant)


async def tallied(conn: Any, table: row_tallies.Tallied) -> int:
    return int(await conn.fetchval(row_tallies.tally_sql(table, "$1"),
                                   await conn.fetchval("SELECT app_tenant_id()")))


@settings(max_examples=80, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_the_tallies_count_what_the_tables_hold(scenario: Scenario,
                                                operations: list[Any]) -> None:
    async def check(conn: Any) -> None:
        tenant = await Scenario.new_tenant(conn, "row tallies")
        await apply(conn, tenant, operations)
        tables: tuple[row_tallies.Tallied, ...] = ("people", "accounts")
        for table in tables:
            counted = await conn.fetchval(f"SELECT count(*) FROM {table}")
            assert await tallied(conn, table) == counted, table
        await row_tallies.compact(conn, tenant)
        for table in tables:
            counted = await conn.fetchval(f"SELECT count(*) FROM {table}")
            assert await tallied(conn, table) == counted, table
            # Compacted: one row per table that holds any, none for an emptied one.
            assert await conn.fetchval("SELECT count(*) FROM row_tallies WHERE table_name = $1",
                                       table) == (1 if counted else 0)

    scenario.rolled_back(check)


async def test_unfiltered_pages_count_from_the_tallies_and_filtered_ones_by_scanning(
    gql: GraphQLClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    await upsert_accounts(gql, tenant.write, [{"externalId": f"A{i}", "name": f"Account {i}"}
                                              for i in range(3)])
    await upsert_accounts(gql, other_tenant.write, [{"externalId": "X", "name": "Theirs"}])
    people = [{"externalId": f"P{i}", "accountExternalId": f"A{i % 3}", "jobTitle": title}
              for i, title in enumerate(["CEO", "CTO", "Intern", "CEO", "VP"])]
    await upsert_people(gql, tenant.write, people)
    await upsert_people(gql, tenant.write, people[:2])  # updates: no more people
    query = """{ people(first: 2) { totalCount }
                 ceos: people(first: 2, filter: {jobTitle: "CEO"}) { totalCount }
                 accounts(first: 1) { totalCount } buyingGroups(first: 1) { totalCount } }"""
    data = await gql.data(query, key=tenant.read)
    assert data == {"people": {"totalCount": 5}, "ceos": {"totalCount": 2},
                    "accounts": {"totalCount": 3}, "buyingGroups": {"totalCount": 0}}
    theirs = await gql.data(query, key=other_tenant.read)
    assert theirs["accounts"] == {"totalCount": 1} and theirs["people"] == {"totalCount": 0}


@pytest.mark.parametrize("table", ["people", "accounts", "buying_groups"])
def test_a_tally_is_read_bound_to_the_tenant_parameter(table: row_tallies.Tallied) -> None:
    sql = row_tallies.tally_sql(table, "$7")
    assert "tenant_id = $7" in sql and sql.startswith("SELECT coalesce(sum(")


async def test_the_worker_folds_a_busy_tenants_deltas(db: Database, tenant: TenantKeys) -> None:
    """Through the system role, which may see only which tenants hold tally rows."""
    async with db.tenant(tenant.id) as conn:
        account = await conn.fetchval(
            "INSERT INTO accounts (tenant_id, external_id, name) VALUES ($1, 'a', 'A') "
            "RETURNING id", tenant.id)
        for i in range(TALLY_ROWS_BEFORE_COMPACTION + 1):  # a delta row per statement
            await conn.execute("INSERT INTO people (tenant_id, external_id, account_id) "
                               "VALUES ($1, $2, $3)", tenant.id, f"p{i}", account)
    assert await compact_tallies({"db": db}) >= 1
    async with db.tenant(tenant.id, readonly=True) as conn:
        rows = await conn.fetch("SELECT table_name, rows FROM row_tallies ORDER BY 1")
    assert [tuple(r) for r in rows] == [("accounts", 1),
                                        ("people", TALLY_ROWS_BEFORE_COMPACTION + 1)]
