"""The service behind PgBouncer in transaction mode: it serves through it with asyncpg's statement
cache off, and what needs a session of its own (LISTEN, migrate's lock) refuses to go through
it. The API's test files also run once wholly through a PgBouncer (.ci/run, THROUGH_PGBOUNCER)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from service.dev.embedded import EmbeddedServices
from service.dev.pgbouncer import PgBouncer, start_pgbouncer
from service.infra import db as db_module
from service.infra.config import Settings
from service.infra.db import Database
from service.infra.migrate import MigrationError, migrate
from service.infra.write_notices import WriteNotices
from tests.support import (
    SERVICE_LOGIN,
    SERVICE_PASSWORD,
    GraphQLClient,
    app_with,
    make_tenant,
    upsert_accounts,
)

ACCOUNTS = "{ accounts(first: 100) { totalCount } }"


@pytest.fixture(scope="module")
def bouncer(servers: EmbeddedServices) -> Iterator[PgBouncer]:
    if shutil.which("pgbouncer") is None and not os.path.exists("/usr/sbin/pgbouncer"):
        if os.environ.get("REQUIRE_BROWSER"):  # CI: .ci/run installs it
            pytest.fail("pgbouncer is not installed")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    assert servers.database_url
    started = start_pgbouncer(servers.database_url,
                              {SERVICE_LOGIN: SERVICE_PASSWORD, "postgres": ""}, pool_size=4)
    yield started
    started.stop()


async def test_the_api_serves_reads_and_writes_through_it(
        settings: Settings, db: Database, bouncer: PgBouncer, service_database_url: str) -> None:
    """More clients than PgBouncer has server connections, each statement on whichever is free:
    with asyncpg's statement cache off, nothing depends on the session."""
    tenant = await make_tenant(db, f"Pooled {uuid.uuid4().hex[:6]}")
    async with app_with(settings, database_url=bouncer.url(service_database_url),
                        database_listen_url=service_database_url, db_statement_cache_size=0,
                        db_pool_max=12, response_cache=True) as http:
        api = GraphQLClient(http)

        async def write(batch: int) -> None:
            await upsert_accounts(api, tenant.write, [
                {"externalId": f"p-{batch}-{i}", "name": f"P {batch} {i}"} for i in range(5)])

        async def read() -> int:
            return int((await api.data(ACCOUNTS, key=tenant.read))["accounts"]["totalCount"])

        await asyncio.gather(*(write(b) for b in range(8)), *(read() for _ in range(40)))
        # Cached answers follow the writes: the notices come over the direct connection.
        assert await read() == 40
        await write(99)
        assert await read() == 45


async def test_listen_through_it_is_refused_not_silently_deaf(
        bouncer: PgBouncer, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    notices = WriteNotices(bouncer.url(database_url), reconnect_seconds=0.1)
    await notices.start(wait_seconds=1.0)
    try:
        assert not await notices.connected(0.5)
    finally:
        await notices.stop()
    assert "set DATABASE_LISTEN_URL to the server itself" in caplog.text


async def test_migrate_through_it_is_refused(bouncer: PgBouncer, database_url: str) -> None:
    with pytest.raises(MigrationError, match="MIGRATION_DATABASE_URL to the server itself"):
        await migrate(bouncer.url(database_url))


async def test_a_new_connection_asks_about_types_inside_one_transaction(
        database_url: str) -> None:
    """asyncpg turns JIT off around its questions about types with statements of their own:
    outside a transaction, PgBouncer runs each on another server connection, and the
    question, with JIT on, took 1.4 s (subscribers of one process fell a second behind)."""
    conn = await asyncpg.connect(database_url, statement_cache_size=0)
    sent: list[tuple[str, bool]] = []
    conn.add_query_logger(lambda record: sent.append((record.query, conn.is_in_transaction())))
    try:
        await db_module._init_connection(conn)
    finally:
        await conn.close()
    outside = [query for query, inside in sent if not inside and "COMMIT" not in query]
    assert any("jit" in query for query, _ in sent)  # the statements this is about
    assert outside == []
