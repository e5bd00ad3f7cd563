"""Shared fixtures: real PostgreSQL and Redis (the machine's, or embedded ones), one fresh database
and one arq queue per test run, the app behind an httpx client, and tenants with keys."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from arq.connections import ArqRedis
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.dev.embedded import EmbeddedServices, start_missing, with_database, with_login
from service.infra.auth import Scope
from service.infra.config import Settings
from service.infra.db import (
    APP_ROLE,
    Database,
    _init_connection,
    create_pool,
    drop_database,
    ensure_database,
)
from service.infra.migrate import migrate
from service.infra.queue import connect as connect_queue
from service.infra.secrets import new_key
from service.usecases.tenants import create_tenant

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def servers() -> Iterator[EmbeddedServices]:
    services = start_missing(
        ROOT / ".data" / "test", os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    )
    yield services
    services.stop()


# The service in tests logs in as production's does: a role of its own that may only switch to
# the app and system roles (migrate grants them); the owner's URL is for set-up and checks.
SERVICE_LOGIN = "bg_test_service"
SERVICE_PASSWORD = "bg-test-service"


async def create_service_login(server_url: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        # Cluster-wide, and suites may run side by side.
        with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            await conn.execute(f"CREATE ROLE {SERVICE_LOGIN} LOGIN PASSWORD '{SERVICE_PASSWORD}'"
                               " NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
    finally:
        await conn.close()


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


SECRET_KEY = new_key()


@pytest.fixture(scope="session")
def settings(
    service_database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
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
    )


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


@dataclass
class TenantKeys:
    id: uuid.UUID
    name: str
    admin: str
    write: str
    read: str


async def make_tenant(db: Database, name: str) -> TenantKeys:
    scopes = (Scope.ADMIN, Scope.WRITE, Scope.READ)
    tenant, keys = await create_tenant(db, name, keys=[(f"{s} key", frozenset({s}))
                                                       for s in scopes])
    return TenantKeys(tenant.id, name, *keys)


async def end_unfinished_jobs(db: Database, tenant_id: uuid.UUID) -> None:
    """Workers take any tenant's next job (fairly): a job a test queued and never ran must not
    be run by a later test, under that test's settings."""
    async with db.as_login() as conn:
        await conn.execute("UPDATE jobs SET status = 'CANCELLED', finished_at = now() "
                           "WHERE tenant_id = $1 AND status IN ('QUEUED', 'RUNNING')", tenant_id)


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


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(self, query: str, variables: dict[str, Any] | None = None, *,
                  key: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, *,
                       key: str) -> dict[str, Any]:
        """The response body; fails the test on a non-200 answer."""
        response = await self.raw(query, variables, key=key)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, *,
                   key: str) -> dict[str, Any]:
        """The data of a response that must have no errors."""
        body = await self(query, variables, key=key)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


async def run_jobs(settings: Settings) -> None:
    """Run the worker in this process until the queue is empty (arq's burst mode)."""
    from jobs.worker import build_worker

    assert settings.database_url and settings.redis_url
    worker = build_worker(settings, settings.database_url, settings.redis_url, burst=True,
                          handle_signals=False, crons=False)
    try:
        await worker.main()
    finally:
        await worker.close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


class Scenario:
    """A connection with its own event loop for hypothesis tests (which run synchronously):
    each example builds its data in a transaction and rolls it back."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection[Any] = self.loop.run_until_complete(self._connect(url))

    async def _connect(self, url: str) -> asyncpg.Connection[Any]:
        conn = await asyncpg.connect(url)
        await _init_connection(conn)
        return conn

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def rolled_back(self, body: Callable[[asyncpg.Connection[Any]], Awaitable[Any]]) -> Any:
        """Run `body(conn)` inside a transaction that is rolled back; its result."""
        async def run() -> Any:
            transaction = self.conn.transaction()
            await transaction.start()
            try:
                return await body(self.conn)
            finally:
                await transaction.rollback()
        return self.run(run())

    @staticmethod
    async def new_tenant(conn: asyncpg.Connection[Any], name: str) -> uuid.UUID:
        """A seeded tenant, bound to the transaction as the app role sees it (RLS applies)."""
        tenant = uuid.uuid4()
        await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant, name)
        await conn.execute("SELECT seed_tenant($1)", tenant)
        await conn.execute(f"SET LOCAL ROLE {APP_ROLE}")
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant))
        return tenant

    def close(self) -> None:
        self.run(self.conn.close())
        self.loop.close()


@pytest.fixture(scope="module")
def scenario(database_url: str) -> Iterator[Scenario]:
    s = Scenario(database_url)
    yield s
    s.close()


@dataclass
class Listener:
    """A local TCP listener standing for a host of the attacker's: it records every request
    and answers like a broken server (HTTP 500)."""

    port: int
    received: list[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


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
