"""The response cache (#21): a repeated query is answered from Redis, and never with an answer
from before a write that completed, whether an API mutation or a job made it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from service.app import create_app
from service.infra.config import Settings
from service.infra.db import Database, create_pool
from service.infra.write_notices import NotFollowing, WriteNotices
from tests.support import (
    GROUPS,
    REMOVE,
    GraphQLClient,
    LoopHarness,
    TenantKeys,
    app_with,
    generate,
    groups,
    make_tenant,
    run_jobs,
    setup_catalogue,
    upsert_accounts,
    upsert_people,
)

STATUS = """mutation($id: ID!, $status: String) {
  setBuyingGroupStatus(input: {buyingGroupId: $id, status: $status}) { userErrors { code } } }"""
RENAME = """mutation($id: ID!, $name: String) {
  renameBuyingGroup(input: {id: $id, name: $name}) { userErrors { code } } }"""
REFRESH = "mutation { refreshScores(input: {}) { job { id } userErrors { code } } }"
OVERVIEW = "{ buyingGroupsOverview { total averageCompleteness } }"
VIEWER = "{ viewer { apiKey { name } } }"


async def cache_state(gql: GraphQLClient, query: str, key: str,
                      variables: dict[str, Any] | None = None) -> tuple[str | None, Any]:
    body = await gql(query, variables, key=key)
    assert not body.get("errors"), body
    return (body.get("extensions") or {}).get("cache"), body["data"]


async def test_a_repeated_query_is_a_hit_until_a_mutation_or_a_job_writes(
    settings: Settings, tenant: TenantKeys
) -> None:
    async with app_with(settings, response_cache=True) as client:
        gql = GraphQLClient(client)
        cat = await setup_catalogue(gql, tenant.write, accounts=2)
        await generate(gql, settings, tenant.write, cat["si"], cat["list"])
        miss = await cache_state(gql, GROUPS, tenant.read)
        hit = await cache_state(gql, GROUPS, tenant.read)
        assert (miss[0], hit[0]) == ("MISS", "HIT") and miss[1] == hit[1]
        group = miss[1]["buyingGroups"]["nodes"][0]
        # A mutation: the next read runs again and shows it.
        await gql.data(STATUS, {"id": group["id"], "status": "Hot"}, key=tenant.write)
        after = await cache_state(gql, GROUPS, tenant.read)
        assert after[0] == "MISS"
        assert [g["status"] for g in after[1]["buyingGroups"]["nodes"]
                if g["id"] == group["id"]] == ["Hot"]
        # A job's write (the worker's transactions) moves the version too.
        assert (await cache_state(gql, GROUPS, tenant.read))[0] == "HIT"
        await gql.data(REMOVE, {"group": group["id"], "person": cat["people"]["A0-vp"]},
                       key=tenant.write)
        await cache_state(gql, GROUPS, tenant.read)
        assert (await cache_state(gql, GROUPS, tenant.read))[0] == "HIT"
        await gql.data(REFRESH, key=tenant.write)
        await run_jobs(settings)
        assert (await cache_state(gql, GROUPS, tenant.read))[0] == "MISS"


JOBS = "{ buyingGroupJobs(first: 5) { nodes { kind status progress { processed } } } }"


async def test_a_jobs_writes_make_only_its_tenants_answers_stale(
    settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    """The worker's transactions (claim, progress, heartbeat, finish) run as the system role
    but name the tenant whose job they write: another tenant's cached answers stay."""
    async with app_with(settings, response_cache=True) as client:
        gql = GraphQLClient(client)
        await cache_state(gql, OVERVIEW, other_tenant.read)
        assert (await cache_state(gql, OVERVIEW, other_tenant.read))[0] == "HIT"
        await gql.data(REFRESH, key=tenant.write)
        queued = await cache_state(gql, JOBS, tenant.read)
        assert (await cache_state(gql, JOBS, tenant.read))[0] == "HIT"
        await run_jobs(settings)
        done = await cache_state(gql, JOBS, tenant.read)
        assert done[0] == "MISS" and queued[1]["buyingGroupJobs"]["nodes"][0]["status"] == \
            "QUEUED"
        assert done[1]["buyingGroupJobs"]["nodes"][0]["status"] == "SUCCEEDED"
        assert (await cache_state(gql, OVERVIEW, other_tenant.read))[0] == "HIT"


async def test_answers_are_kept_apart_by_tenant_scopes_variables_and_key_for_viewer(
    settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    async with app_with(settings, response_cache=True) as client:
        gql = GraphQLClient(client)
        await cache_state(gql, OVERVIEW, tenant.read)
        assert (await cache_state(gql, OVERVIEW, tenant.read))[0] == "HIT"
        assert (await cache_state(gql, OVERVIEW, tenant.write))[0] == "MISS"  # other scopes
        assert (await cache_state(gql, OVERVIEW, other_tenant.read))[0] == "MISS"
        assert (await cache_state(gql, GROUPS, tenant.read, {"filter": None}))[0] == "MISS"
        assert (await cache_state(gql, GROUPS, tenant.read,
                                  {"filter": {"status": ["Hot"]}}))[0] == "MISS"
        mine = await cache_state(gql, VIEWER, tenant.read)
        assert (await cache_state(gql, VIEWER, tenant.read))[0] == "HIT"
        assert (await cache_state(gql, VIEWER, tenant.admin))[1] != mine[1]


async def test_mutations_errors_and_a_switched_off_cache_are_never_served_from_it(
    settings: Settings, tenant: TenantKeys
) -> None:
    async with app_with(settings, response_cache=True) as client:
        gql = GraphQLClient(client)
        for _ in range(2):
            body = await gql(REFRESH, key=tenant.write)
            assert "cache" not in (body.get("extensions") or {})
        for _ in range(2):
            body = await gql("{ buyingGroups(first: 1000) { totalCount } }", key=tenant.read)
            assert body["errors"] and "cache" not in (body.get("extensions") or {})
    async with app_with(settings, response_cache=False) as client:
        gql = GraphQLClient(client)
        for _ in range(2):
            body = await gql(OVERVIEW, key=tenant.read)
            assert "cache" not in (body.get("extensions") or {})


# --- never stale: random writes and reads, every cached answer equal to a fresh one --------

READS = [GROUPS, OVERVIEW, "{ buyingGroups(first: 5, orderBy: {field: COMPLETENESS_SCORE}) "
                           "{ nodes { name status completeness { value } } } }"]


class Harness(LoopHarness):
    """Two apps on one loop of their own: one answers from the cache, the other never
    does."""

    async def start(self) -> None:
        self.db = Database(await create_pool(self.database_url, min_size=1, max_size=2))
        self.managers = [LifespanManager(create_app(self.settings.model_copy(
            update={"response_cache": on}))) for on in (True, False)]
        clients = []
        for manager in self.managers:
            await manager.__aenter__()
            clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                             base_url="http://testserver", timeout=60))
        self.clients = clients
        self.cached, self.fresh = (GraphQLClient(c) for c in clients)
        self.tenant = await make_tenant(self.db, "Cache")
        cat = await setup_catalogue(self.cached, self.tenant.write, accounts=3)
        await generate(self.cached, self.settings, self.tenant.write, cat["si"], cat["list"])
        self.people = cat["people"]
        self.groups = [g["id"] for g in await groups(self.cached, self.tenant.write)]

    async def stop(self) -> None:
        for client in self.clients:
            await client.aclose()
        for manager in self.managers:
            await manager.__aexit__(None, None, None)
        await self.db.pool.close()

    async def step(self, op: tuple[Any, ...]) -> None:
        key = self.tenant.write
        match op:
            case ("status", g, value):
                await self.cached.data(STATUS, {"id": self.groups[g], "status": value}, key=key)
            case ("rename", g, value):
                await self.cached.data(RENAME, {"id": self.groups[g], "name": value}, key=key)
            case ("remove", g, who):
                await self.fresh.data(REMOVE, {"group": self.groups[g],
                                               "person": self.people[f"A{g}-{who}"]}, key=key)
            case ("job",):
                await self.cached.data(REFRESH, key=key)
                await run_jobs(self.settings)
            case ("read", q):
                seen = await self.cached(READS[q], key=self.tenant.read)
                truth = await self.fresh(READS[q], key=self.tenant.read)
                assert seen["data"] == truth["data"], op


OPS = st.one_of(
    st.tuples(st.just("status"), st.integers(0, 2), st.sampled_from(["Hot", "Cold", None])),
    st.tuples(st.just("rename"), st.integers(0, 2), st.sampled_from(["X", "Y", None])),
    st.tuples(st.just("remove"), st.integers(0, 2), st.sampled_from(["vp", "ceo"])),
    st.tuples(st.just("job")),
    st.tuples(st.just("read"), st.integers(0, len(READS) - 1)),
)


@pytest.fixture(scope="module")
def harness(settings: Settings, database_url: str) -> Iterator[Harness]:
    own = settings.model_copy(update={"queue_name": f"{settings.queue_name}:cache",
                                      "rate_limit_points": 0})
    harness = Harness(own, database_url)
    harness.run(harness.start())
    try:
        yield harness
    finally:
        harness.run(harness.stop())
        harness.loop.close()


@examples(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=1, max_size=10))
def test_a_cached_answer_always_equals_a_fresh_one(harness: Harness,
                                                   ops: list[tuple[Any, ...]]) -> None:
    async def run() -> None:
        for op in [*ops, ("read", 0), ("read", 1)]:
            await harness.step(op)
    harness.run(run())


# --- stale at the commit of any writer: the CLI without Redis, a plain SQL statement ----------

PEOPLE = "{ people(first: 50) { totalCount nodes { externalId firstName } } }"


def import_without_redis(settings: Settings, tenant: TenantKeys, path: Path
                         ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DATABASE_URL=str(settings.database_url), LOG_LEVEL="WARNING")
    return subprocess.run([sys.executable, "-m", "service.cli", "import", "people", str(path),
                           "--tenant", str(tenant.id)],
                          env=env, capture_output=True, text=True, timeout=60, check=False)


async def test_a_cli_import_without_redis_is_seen_by_the_next_cached_query(
    settings: Settings, tenant: TenantKeys, tmp_path: Path
) -> None:
    async with app_with(settings, response_cache=True) as client:
        gql = GraphQLClient(client)
        await upsert_accounts(gql, tenant.write, [{"externalId": "A", "name": "A"}])
        await cache_state(gql, PEOPLE, tenant.read)
        assert (await cache_state(gql, PEOPLE, tenant.read)) == (
            "HIT", {"people": {"totalCount": 0, "nodes": []}})
        people = tmp_path / "people.csv"
        people.write_text("externalId,accountExternalId,firstName\np1,A,Ada\np2,NOPE,Bob\n")
        result = import_without_redis(settings, tenant, people)
        assert result.returncode == 0, result.stderr
        assert "2 rows read, 1 written, 1 rejected" in result.stderr
        state, data = await cache_state(gql, PEOPLE, tenant.read)
        assert state == "MISS"
        assert data["people"] == {"totalCount": 1,
                                  "nodes": [{"externalId": "p1", "firstName": "Ada"}]}


async def test_a_plain_sql_write_makes_cached_answers_stale_at_its_commit(
    settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys, db: Database
) -> None:
    """No waiting between the commit and the read: a lookup hears every notice committed
    before it began."""
    async with app_with(settings, response_cache=True) as client:
        gql = GraphQLClient(client)
        await upsert_accounts(gql, tenant.write, [{"externalId": "A", "name": "A"}])
        await upsert_people(gql, tenant.write, [{"externalId": "p1", "accountExternalId": "A",
                                                 "firstName": "Ada"}])
        for _ in range(2):
            await cache_state(gql, PEOPLE, tenant.read)
            await cache_state(gql, OVERVIEW, other_tenant.read)
        for name in ("Bea", "Cid", "Dan"):
            async with db.as_login() as conn:
                await conn.execute("UPDATE people SET first_name = $2 WHERE tenant_id = $1",
                                   tenant.id, name)
            state, data = await cache_state(gql, PEOPLE, tenant.read)
            assert (state, data["people"]["nodes"][0]["firstName"]) == ("MISS", name)
            assert (await cache_state(gql, PEOPLE, tenant.read))[0] == "HIT"
        # Another tenant's answers stay; a rolled-back write announces nothing.
        assert (await cache_state(gql, OVERVIEW, other_tenant.read))[0] == "HIT"
        async with db.as_login() as conn:
            tx = conn.transaction()
            await tx.start()
            await conn.execute("UPDATE people SET first_name = 'Eve' WHERE tenant_id = $1",
                               tenant.id)
            await tx.rollback()
        assert (await cache_state(gql, PEOPLE, tenant.read))[0] == "HIT"


async def test_nothing_is_served_while_the_notices_are_not_heard(
    settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    async with app_with(settings, response_cache=True) as client:
        gql = GraphQLClient(client)
        for _ in range(2):
            await cache_state(gql, OVERVIEW, tenant.read)
        # The listening connection dies: until it is back, every answer is computed.
        async with db.as_login() as conn:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND (query = 'LISTEN \"response_cache\";' "
                "OR query LIKE '%pg_current_wal_insert_lsn()%')")
        assert killed >= 1
        body = await gql(OVERVIEW, key=tenant.read)
        assert "cache" not in (body.get("extensions") or {})
        # The listener comes back a second later, or later on a loaded machine (a CI run
        # beside a benchmark took over 5 s): wait for it, up to a minute.
        for _ in range(1200):
            state = (await cache_state(gql, OVERVIEW, tenant.read))[0]
            if state is not None:
                break
            await asyncio.sleep(0.05)
        assert state == "MISS"  # back, with versions of its own: nothing from before
        assert (await cache_state(gql, OVERVIEW, tenant.read))[0] == "HIT"


ANNOUNCED_BY_OTHERS = {"activity_tallies", "activity_tally_deltas", "row_tallies",
                       "buying_group_tallies", "event_positions", "event_relay"}


async def test_every_table_of_tenants_rows_announces_its_writes(db: Database) -> None:
    """A table added without the triggers (migration 0020's announce_writes) would leave
    cached answers stale after its writes."""
    async with db.as_login() as conn:
        rows = await conn.fetch("""
            SELECT c.relname::text AS name,
                   array(SELECT tgname::text FROM pg_trigger t
                          WHERE t.tgrelid = c.oid AND tgname LIKE 'announce_%'
                          ORDER BY 1) AS triggers
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
               AND NOT c.relispartition
               AND (c.relname = 'tenants' OR EXISTS (
                    SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                       AND a.attname = 'tenant_id' AND NOT a.attisdropped))""")
    silent = {r["name"] for r in rows if r["triggers"] != [
        "announce_deleted", "announce_inserted", "announce_updated"]}
    assert silent == ANNOUNCED_BY_OTHERS


async def test_a_version_includes_every_write_committed_before_it_was_asked_for(
    database_url: str, tenant: TenantKeys, db: Database
) -> None:
    """The notice of a commit may still be on its way (here: held back by not reading the
    listening socket); asking for the version waits for it rather than answer without it."""
    notices = WriteNotices(database_url)
    await notices.start()
    try:
        before = await notices.current(tenant.id)
        assert await notices.current(tenant.id) == before
        transport = notices._conn._transport
        transport.pause_reading()
        async with db.as_login() as conn:
            await conn.execute("UPDATE tenants SET name = name WHERE id = $1", tenant.id)
        asyncio.get_running_loop().call_later(0.2, transport.resume_reading)
        assert await notices.current(tenant.id) != before
    finally:
        await notices.stop()


async def test_a_version_not_confirmed_in_time_is_no_version(
    database_url: str, tenant: TenantKeys
) -> None:
    """A listening connection that does not answer (a hung server) makes lookups answer
    uncached within the round trip's limit, not hold their requests."""
    notices = WriteNotices(database_url, round_trip_seconds=0.2)
    await notices.start()
    try:
        transport = notices._conn._transport
        transport.pause_reading()
        with pytest.raises(NotFollowing):
            await notices.current(tenant.id)
        transport.resume_reading()
        await notices.current(tenant.id)
    finally:
        await notices.stop()
