"""Shared fixtures: real PostgreSQL and Redis (the machine's, or embedded ones), one fresh database
and one arq queue per test run, the app behind an httpx client, and tenants with keys. The
helpers they use, and that tests import, are in tests/support.py."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.dev.embedded import EmbeddedServices, start_missing, with_database, with_login
from service.dev.pgbouncer import PgBouncer, start_pgbouncer
from service.infra.config import Settings
from service.infra.db import (
    Database,
    create_pool,
    drop_database,
    ensure_database,
)
from service.infra.migrate import migrate
from service.infra.queue import connect as connect_queue
from tests.support import (
    ROOT,
    RUN_ID,
    SECRET_KEY,
    SERVICE_LOGIN,
    SERVICE_PASSWORD,
    GraphQLClient,
    Listener,
    Scenario,
    TenantKeys,
    create_service_login,
    end_unfinished_jobs,
    free_port,
    make_tenant,
)


@pytest.fixture(scope="session")
def servers() -> Iterator[EmbeddedServices]:
    services = start_missing(
        ROOT / ".data" / "test", os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    )
    yield services
    services.stop()


@pytest.fixture(scope="session")
async def database_url(servers: EmbeddedServices) -> AsyncIterator[str]:
    """The test database, as its owner (the server's superuser)."""
    assert servers.database_url
    name = f"bg_test_{RUN_ID}"
    await ensure_database(servers.database_url, name)
    url = with_database(servers.database_url, name)
    await create_service_login(servers.database_url)
    await migrate(url, service_login=SERVICE_LOGIN)
    yield url
    await drop_database(servers.database_url, name)


@pytest.fixture(scope="session")
def service_database_url(database_url: str) -> str:
    """The test database, as the service's least-privileged login."""
    return with_login(database_url, SERVICE_LOGIN, SERVICE_PASSWORD)


@pytest.fixture(scope="session")
def redis_url(servers: EmbeddedServices) -> str:
    assert servers.redis_url
    return servers.redis_url


@pytest.fixture(scope="session")
def pgbouncer(servers: EmbeddedServices) -> Iterator[PgBouncer | None]:
    """With THROUGH_PGBOUNCER=1 (a run of .ci/run), the service's connections go through a
    PgBouncer in transaction mode; the tests' own set-up, and LISTEN, go to the server."""
    if not os.environ.get("THROUGH_PGBOUNCER"):
        yield None
        return
    assert servers.database_url
    bouncer = start_pgbouncer(servers.database_url, {SERVICE_LOGIN: SERVICE_PASSWORD})
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="session")
def settings(
    service_database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory,
    pgbouncer: PgBouncer | None,
) -> Settings:
    through = {} if pgbouncer is None else {
        "database_url": pgbouncer.url(service_database_url),
        "database_listen_url": service_database_url, "db_statement_cache_size": 0}
    return Settings(
        database_url=service_database_url,
        redis_url=redis_url,
        queue_name=f"bg-test:{RUN_ID}:queue",
        data_dir=tmp_path_factory.mktemp("data"),
        log_level="WARNING",
        expose_sql_statements=True,
        activity_api_backoff_seconds=0.01,
        secret_key=SECRET_KEY,
        job_retry_base_seconds=0.01,  # retries in milliseconds: tests wait for none
        job_retry_max_seconds=0.05,
        activity_api_timeout_seconds=5,
        activity_api_max_calls=0,  # the simulator does not limit unless a test says so
        # Tenants' sources in tests are the simulator on 127.0.0.1; every other local or
        # private address stays refused (test_outbound checks 127.0.0.2, localhost, ...).
        outbound_allowed_hosts="127.0.0.1",
        # Off: tests count the statements a query sends, which a cached answer sends none
        # of; tests/test_response_cache.py turns it on.
        response_cache=False,
        # Likewise: tests revoke keys and age their last use straight in the database;
        # tests/test_auth.py covers the cache.
        auth_cache_seconds=0,
        _env_file=None,  # type: ignore[call-arg]
    ).model_copy(update=through)


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    pool = await create_pool(database_url, min_size=1, max_size=5)
    yield Database(pool)
    await pool.close()


@pytest.fixture(scope="session")
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await connect_queue(redis_url)
    yield pool
    await pool.aclose()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        yield manager.app


@pytest.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def tenant(db: Database) -> AsyncIterator[TenantKeys]:
    keys = await make_tenant(db, f"Tenant {uuid.uuid4().hex[:6]}")
    yield keys
    await end_unfinished_jobs(db, keys.id)


@pytest.fixture
async def other_tenant(db: Database) -> AsyncIterator[TenantKeys]:
    keys = await make_tenant(db, f"Other {uuid.uuid4().hex[:6]}")
    yield keys
    await end_unfinished_jobs(db, keys.id)


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


@pytest.fixture(scope="session")
def simulator() -> Iterator[str]:
    """The activity-log simulator as its own process, with no synthetic activity: tests add
    exactly the activities they need."""
    import subprocess
    import sys
    import time

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "simulator", "--port", str(port)],
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.post(f"{url}/_sim/config", json={"synthetic": False}).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the simulator did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def scenario(database_url: str) -> Iterator[Scenario]:
    s = Scenario(database_url)
    yield s
    s.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield Listener(server.sockets[0].getsockname()[1], received)
