"""Read replicas (DATABASE_READ_URL) against a real streaming replica the suite starts: reads go
to it once it has replayed the tenant's writes, never to it before (read-your-writes by WAL
position, whoever wrote), and not while it lags or is away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from service.dev.embedded import EmbeddedServices
from service.dev.replica import ReplicaServer, start_replica
from service.infra.config import Settings
from service.infra.db import Database, create_pool
from service.infra.replicas import Reads, Replica, lag_seconds, server_name
from service.infra.wal import lsn
from service.infra.write_notices import WriteNotices
from tests.support import (
    GraphQLClient,
    TenantKeys,
    app_with,
    make_tenant,
    start_api,
    stop,
    upsert_accounts,
)

ACCOUNTS = "{ accounts(first: 50) { totalCount nodes { externalId name } } }"
ROLES = "{ roles(first: 5) { totalCount } }"


@pytest.fixture(scope="module")
async def replica(servers: EmbeddedServices, database_url: str
                  ) -> AsyncIterator[ReplicaServer]:
    assert servers.database_url
    server = await start_replica(servers.database_url)
    yield server
    server.stop()


async def read_from(gql: GraphQLClient, query: str, key: str
                    ) -> tuple[list[str], dict[str, Any]]:
    body = await gql(query, key=key)
    assert not body.get("errors"), body
    return body.get("extensions", {}).get("readFrom", []), body["data"]


async def eventually_from(gql: GraphQLClient, query: str, key: str, server: str,
                          seconds: float = 10) -> dict[str, Any]:
    for attempt in range(int(seconds / 0.05)):
        # A document of its own each time: a cached answer says nothing of where it was read.
        where, data = await read_from(gql, query.replace("{", f"{{ t{attempt}: __typename", 1),
                                      key)
        if where == [server]:
            return data
        await asyncio.sleep(0.05)
    raise AssertionError(f"reads never went to {server} (last: {where})")


def metric(text: str, name: str, label: str) -> float:
    found = re.search(rf'^{name}\{{[^}}]*"{re.escape(label)}"\}} (\S+)$', text, re.MULTILINE)
    assert found, f"{name} for {label} is not in /metrics"
    return float(found.group(1))


async def test_reads_go_to_the_replica_and_a_write_is_read_back_while_it_is_paused(
        settings: Settings, db: Database, gql: GraphQLClient, replica: ReplicaServer,
        database_url: str) -> None:
    writer = await make_tenant(db, f"Writer {uuid.uuid4().hex[:6]}")
    reader = await make_tenant(db, f"Reader {uuid.uuid4().hex[:6]}")
    assert settings.database_url
    name = server_name(replica.url(settings.database_url))
    async with app_with(settings, database_read_url=replica.url(settings.database_url),
                        response_cache=True) as http:
        api = GraphQLClient(http)
        await eventually_from(api, ROLES, writer.read, name)
        await eventually_from(api, ROLES, reader.read, name)
        await replica.sql("SELECT pg_wal_replay_pause()")
        try:
            # The response cache holds an answer from before the write: a miss after it must
            # not store what a paused replica says.
            assert (await read_from(api, ACCOUNTS, writer.read))[1]["accounts"]["totalCount"] == 0
            await upsert_accounts(api, writer.write, [{"externalId": "a-1", "name": "Acme"}])
            where, data = await read_from(api, ACCOUNTS, writer.read)
            assert data["accounts"]["totalCount"] == 1
            assert where == ["primary"]
            # A tenant that did not write still reads the replica.
            assert (await read_from(api, ROLES, reader.read))[0] == [name]
        finally:
            await replica.sql("SELECT pg_wal_replay_resume()")
        data = await eventually_from(api, ACCOUNTS, writer.read, name)
        assert data["accounts"]["nodes"] == [{"externalId": "a-1", "name": "Acme"}]
        metrics = (await http.get("/metrics")).text
        assert metric(metrics, "bg_database_reads_total", "replica") > 0
        assert metric(metrics, "bg_replica_up", name) == 1


async def test_a_write_made_elsewhere_is_never_read_from_before_it(
        settings: Settings, db: Database, replica: ReplicaServer) -> None:
    """A job, the CLI or psql writes, not this process: its notice fences the tenant."""
    tenant = await make_tenant(db, f"Elsewhere {uuid.uuid4().hex[:6]}")
    assert settings.database_url
    name = server_name(replica.url(settings.database_url))
    async with app_with(settings, database_read_url=replica.url(settings.database_url)) as http:
        api = GraphQLClient(http)
        await eventually_from(api, ROLES, tenant.read, name)
        await replica.sql("SELECT pg_wal_replay_pause()")
        try:
            async with db.tenant(tenant.id) as conn:
                await conn.execute(
                    "INSERT INTO accounts (tenant_id, external_id, name) VALUES ($1, 'x', 'X')",
                    tenant.id)
            where, data = await read_from(api, ACCOUNTS, tenant.read)
            assert data["accounts"]["totalCount"] == 1 and where == ["primary"]
        finally:
            await replica.sql("SELECT pg_wal_replay_resume()")


async def test_a_lagging_replica_is_left_out_and_its_lag_is_a_metric(
        settings: Settings, db: Database, replica: ReplicaServer) -> None:
    quiet = await make_tenant(db, f"Quiet {uuid.uuid4().hex[:6]}")
    busy = await make_tenant(db, f"Busy {uuid.uuid4().hex[:6]}")
    assert settings.database_url
    name = server_name(replica.url(settings.database_url))
    async with app_with(settings, database_read_url=replica.url(settings.database_url),
                        replica_max_lag_seconds=0.5) as http:
        api = GraphQLClient(http)
        await eventually_from(api, ROLES, quiet.read, name)
        await replica.sql("SELECT pg_wal_replay_pause()")
        try:
            for i in range(15):  # the primary moves on; the replica stays where it paused
                async with db.tenant(busy.id) as conn:
                    await conn.execute("INSERT INTO accounts (tenant_id, external_id, name) "
                                       "VALUES ($1, $2, 'B')", busy.id, f"b-{i}")
                await asyncio.sleep(0.1)
            assert metric((await http.get("/metrics")).text,
                          "bg_replica_lag_seconds", name) > 0.5
            # The quiet tenant's data is on the replica, but it is too far behind to be asked.
            assert (await read_from(api, ROLES, quiet.read))[0] == ["primary"]
        finally:
            await replica.sql("SELECT pg_wal_replay_resume()")
        await eventually_from(api, ROLES, quiet.read, name)
        assert metric((await http.get("/metrics")).text, "bg_replica_lag_seconds", name) < 0.5


async def test_reads_go_to_the_primary_when_the_replica_is_away(
        servers: EmbeddedServices, settings: Settings, db: Database, database_url: str,
        tenant: TenantKeys) -> None:
    assert servers.database_url and settings.database_url
    own = await start_replica(servers.database_url)
    name = server_name(own.url(settings.database_url))
    try:
        async with app_with(settings, database_read_url=own.url(settings.database_url)) as http:
            api = GraphQLClient(http)
            await eventually_from(api, ROLES, tenant.read, name)
            own.stop()  # a fast shutdown: its pooled connections are cut
            for _ in range(20):
                where, data = await read_from(api, ROLES, tenant.read)
                assert where == ["primary"] and data["roles"]["totalCount"] >= 0
            metrics = (await http.get("/metrics")).text
            assert metric(metrics, "bg_replica_up", name) == 0
    finally:
        own.stop()


async def test_a_read_that_finds_its_replica_gone_starts_again_on_the_primary(
        servers: EmbeddedServices, settings: Settings, db: Database, database_url: str,
        tenant: TenantKeys) -> None:
    """Before the monitor has noticed: the replica's pooled connections are dead."""
    assert servers.database_url and settings.database_url
    own = await start_replica(servers.database_url)
    notices = WriteNotices(database_url, eager_fences=True)
    await notices.start()
    pool = await create_pool(own.url(settings.database_url), min_size=2, max_size=2)
    reads = Reads(db, [Replica("own", Database(pool))], notices)
    try:
        await own.caught_up(servers.database_url)
        await reads.poll()  # once: no monitor runs, so it is not what notices below
        async with reads.transaction(tenant.id) as (name, _, conn):
            assert name == "own" and await conn.fetchval("SELECT pg_is_in_recovery()")
        own.stop()
        async with reads.transaction(tenant.id) as (name, _, conn):
            assert name == "primary" and not await conn.fetchval("SELECT pg_is_in_recovery()")
        assert not reads.replicas[0].up
    finally:
        own.stop()
        await notices.stop()
        pool.terminate()


async def test_a_replica_away_at_start_holds_nothing_up(
        settings: Settings, tenant: TenantKeys) -> None:
    assert settings.database_url
    from service.dev.replica import on_port
    from tests.support import free_port

    away = on_port(settings.database_url, free_port())
    async with app_with(settings, database_read_url=away) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        where, _ = await read_from(GraphQLClient(http), ROLES, tenant.read)
        assert where == ["primary"]


async def test_a_fence_is_at_or_after_every_write_of_the_tenant_heard(
        database_url: str, db: Database, tenant: TenantKeys) -> None:
    notices = WriteNotices(database_url, eager_fences=True)
    await notices.start()
    try:
        before = await notices.fence(tenant.id)
        assert before is not None
        async with db.tenant(tenant.id) as conn:
            await conn.execute("INSERT INTO accounts (tenant_id, external_id, name) "
                               "VALUES ($1, 'f', 'F')", tenant.id)
            wrote = lsn(await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
        after = await notices.fence(tenant.id)
        # Unplaced (None: read the primary) until a round trip after the notice, then at or
        # after the commit.
        while after is None:
            after = await notices.fence(tenant.id)
        assert after >= wrote > before
    finally:
        await notices.stop()


def test_lag_is_how_long_ago_the_primary_was_where_the_replica_is() -> None:
    history = [(10.0, 100), (10.1, 200), (10.2, 200), (10.3, 300)]
    assert lag_seconds(history, 300, 11.0) == 0.0
    assert lag_seconds(history, 400, 11.0) == 0.0
    assert lag_seconds(history, 250, 11.0) == pytest.approx(0.8)  # at 200 until 10.2
    assert lag_seconds(history, 50, 11.0) == pytest.approx(1.0)  # behind the oldest sample
    assert lag_seconds([], 50, 11.0) == math.inf


def test_read_urls_are_split_between_urls_not_inside_one() -> None:
    settings = Settings(database_read_url=(
        "postgresql://u:p@r1:5432/db postgresql://u@h1:5432,h2:5433/db?target_session_attrs=any"
        ",postgres://r3/db"), _env_file=None)  # type: ignore[call-arg]
    assert settings.database_read_urls == [
        "postgresql://u:p@r1:5432/db",
        "postgresql://u@h1:5432,h2:5433/db?target_session_attrs=any",
        "postgres://r3/db"]
    assert server_name("postgresql://u:secret@r1:6000/db") == "r1:6000/db"
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        Settings(database_read_url="mysql://x/db", _env_file=None)  # type: ignore[call-arg]


async def test_a_server_of_another_cluster_or_a_primary_serves_no_reads(
        settings: Settings, db: Database, replica: ReplicaServer, database_url: str) -> None:
    """Its WAL positions say nothing of this primary's: a standby of another cluster (told by
    its system identifier) or a server not in recovery (the primary itself here)."""
    assert settings.database_url
    notices = WriteNotices(database_url, eager_fences=True)
    await notices.start()
    standby = await create_pool(replica.url(settings.database_url), min_size=0, max_size=1)
    itself = await create_pool(settings.database_url, min_size=0, max_size=1)
    reads = Reads(db, [Replica("standby", Database(standby)), Replica("itself", Database(itself))],
                  notices)
    try:
        await reads.poll()
        assert [r.up for r in reads.replicas] == [True, False]
        reads._cluster = 1  # as if DATABASE_URL were another cluster's primary
        await reads.poll()
        assert [r.up for r in reads.replicas] == [False, False]
    finally:
        await notices.stop()
        await standby.close()
        await itself.close()


async def metrics_of(url: str) -> str:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{url}/metrics")).text


async def test_subscriptions_read_from_the_replica(
        settings: Settings, db: Database, replica: ReplicaServer, servers: EmbeddedServices
        ) -> None:
    tenant = await make_tenant(db, f"Subscriber {uuid.uuid4().hex[:6]}")
    assert settings.database_url and servers.database_url
    name = server_name(replica.url(settings.database_url))
    (url,), processes = start_api(settings, 1,
                                  DATABASE_READ_URL=replica.url(settings.database_url))
    try:
        await replica.caught_up(servers.database_url)
        for _ in range(100):  # the process has seen the replica replay the tenant's creation
            await asyncio.sleep(0.1)
            text = await metrics_of(url)
            if metric(text, "bg_replica_up", name) == 1:
                break
        async with connect(url.replace("http://", "ws://") + "/graphql",
                           subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"Authorization": f"Bearer {tenant.read}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            # Authenticating wrote the key's last use: the replica replays it, then the socket
            # reads there.
            await asyncio.sleep(0.5)
            before = await metrics_of(url)
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription { buyingGroupEvents { kind } }"}}))
            with contextlib.suppress(TimeoutError):  # it reads where the log ends, quietly
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                raise AssertionError(message)
            after = await metrics_of(url)
    finally:
        stop(processes)

    def reads(text: str, server: str) -> float:
        found = re.search(rf'^bg_database_reads_total\{{server="{server}"\}} (\S+)$', text,
                          re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    assert reads(after, "replica") > reads(before, "replica")
    assert reads(after, "primary") == reads(before, "primary")
