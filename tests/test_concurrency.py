"""The API under concurrency: no burst of requests can wedge a process's connection pool, a
request that cannot get a connection in time gets a clear 503, and statements are bounded in
time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from service.dev.demo import load_demo
from service.infra.config import Settings
from service.infra.db import Database
from service.usecases.unit_of_work import CLI, unit_of_work
from tests.support import TenantKeys, app_with

TWO_STATUS_CHANGES = """mutation($a: ID!, $b: ID!) {
  first: setBuyingGroupStatus(input: {buyingGroupId: $a, status: "one"}) {
    buyingGroup { roles { members { person { firstName } } } } }
  second: setBuyingGroupStatus(input: {buyingGroupId: $b, status: "two"}) {
    buyingGroup { roles { members { person { firstName } } } } }
}"""


@pytest.fixture
async def small_pool(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a pool of 5 connections."""
    async with app_with(settings, db_pool_min=1, db_pool_max=5,
                        db_acquire_timeout_seconds=5) as client:
        yield client


async def post(client: httpx.AsyncClient, key: str, query: str,
               variables: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables or {}},
                             headers={"Authorization": f"Bearer {key}"})


async def test_requests_running_at_once_each_keep_their_own_principal_and_session(
    small_pool: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    """Each request keeps its principal and read session in its scope's state. The test
    harness (asgi-lifespan) hands every request the same state dict, as a server may: a
    request that waited (for its body, Redis, the pool) then read another's principal, or
    another's read session after that one had closed it ("the request has finished")."""
    keys = [(tenant.read, tenant.name), (other_tenant.read, other_tenant.name)] * 20
    # New documents: each request awaits Redis for its charge before it runs.
    answers = await asyncio.gather(*(
        post(small_pool, key, f"query Q{i} {{ viewer {{ tenant {{ name }} }} }}")
        for i, (key, _) in enumerate(keys)))
    assert [a.json().get("data", {}).get("viewer", {}).get("tenant", {}).get("name")
            for a in answers] == [name for _, name in keys]


async def test_a_burst_of_two_mutation_documents_cannot_wedge_the_pool(
    small_pool: httpx.AsyncClient, tenant: TenantKeys, db: Database
) -> None:
    async with unit_of_work(db, tenant.id, CLI) as work:
        await load_demo(work)
    groups = (await post(small_pool, tenant.read, "{ buyingGroups(first: 80) { nodes { id } } }"
                         )).json()["data"]["buyingGroups"]["nodes"]
    pairs = [{"a": groups[i]["id"], "b": groups[i + 40]["id"]} for i in range(40)]
    # Each request holds its read connection for the first payload while the second mutation
    # waits for a write connection: with 40 at once, every connection of the pool is held by
    # a request waiting for another, unless requests never hold one while waiting.
    answers = await asyncio.wait_for(asyncio.gather(*(
        post(small_pool, tenant.write, TWO_STATUS_CHANGES, pair) for pair in pairs)),
        timeout=90)
    assert [a.status_code for a in answers] == [200] * 40
    for answer in answers:
        body = answer.json()
        assert "errors" not in body, body
        assert body["data"]["first"]["buyingGroup"] and body["data"]["second"]["buyingGroup"]
    # And the process still answers.
    viewer = await asyncio.wait_for(post(small_pool, tenant.read, "{ viewer { scopes } }"), 10)
    assert viewer.json()["data"] == {"viewer": {"scopes": ["READ"]}}
    statuses = (await post(small_pool, tenant.read,
                           "{ buyingGroups(first: 80) { nodes { status } } }")).json()
    assert sorted(n["status"] for n in statuses["data"]["buyingGroups"]["nodes"]) == (
        ["one"] * 40 + ["two"] * 40)




@asynccontextmanager
async def roles_locked(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    """The roles table locked by another session until the block ends: every read of it waits."""
    conn = await asyncpg.connect(database_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("LOCK TABLE roles IN ACCESS EXCLUSIVE MODE")
        try:
            yield conn
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


async def waiting_on_locks(database_url: str, count: int) -> None:
    """Until `count` sessions wait on a lock (requests blocked on the locked table)."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(200):
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")
            if waiting >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} sessions never waited on the lock")
    finally:
        await conn.close()


async def test_a_statement_beyond_the_time_limit_is_cancelled_with_timeout(
    settings: Settings, database_url: str, tenant: TenantKeys
) -> None:
    async with app_with(settings, db_statement_timeout_ms=300) as client, \
            roles_locked(database_url):
        started = asyncio.get_running_loop().time()
        body = (await asyncio.wait_for(post(client, tenant.read, "{ roles { totalCount } }"),
                                       10)).json()
        elapsed = asyncio.get_running_loop().time() - started
    assert [e["extensions"]["code"] for e in body["errors"]] == ["TIMEOUT"], body
    assert elapsed < 10


async def test_a_request_that_gets_no_connection_in_time_is_told_503(
    settings: Settings, database_url: str, tenant: TenantKeys
) -> None:
    async with app_with(settings, db_pool_min=1, db_pool_max=2, db_acquire_timeout_seconds=0.5,
                        db_statement_timeout_ms=30_000) as client:
        async with roles_locked(database_url):
            # Two requests hold both connections, waiting on the lock.
            blocked = [asyncio.create_task(post(client, tenant.read, "{ roles { totalCount } }"))
                       for _ in range(2)]
            await waiting_on_locks(database_url, 2)
            response = await asyncio.wait_for(
                post(client, tenant.read, "{ viewer { scopes } }"), 10)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        # Once the lock goes, the blocked requests finish and the process serves again.
        for task in blocked:
            assert (await asyncio.wait_for(task, 10)).json()["data"]["roles"]["totalCount"] == 6
        viewer = await post(client, tenant.read, "{ viewer { scopes } }")
        assert viewer.json()["data"] == {"viewer": {"scopes": ["READ"]}}


async def test_a_request_transaction_left_idle_is_ended_by_postgresql(
    db: Database, tenant: TenantKeys
) -> None:
    from service.infra.db import Limits

    with pytest.raises((asyncpg.IdleInTransactionSessionTimeoutError,
                        asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError)):
        async with db.tenant(tenant.id, readonly=True, limits=Limits(15_000, 200)) as conn:
            await conn.fetchval("SELECT 1")
            await asyncio.sleep(1)  # idle inside the transaction, past the 200 ms allowed
            await conn.fetchval("SELECT 1")
    # Without the limit the same pause is harmless.
    async with db.tenant(tenant.id, readonly=True) as conn:
        await asyncio.sleep(1)
        assert await conn.fetchval("SELECT 1") == 1
