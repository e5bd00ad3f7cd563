"""Transactions that PostgreSQL aborts for a transient reason run again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.infra.db import (
    APP_ROLE,
    Database,
    Limits,
    close_pool,
    create_pool,
    listen,
    login_name,
    retrying,
    woken,
)
from service.infra.read_session import BESIDE_AT_MOST, ReadSession
from tests.support import TenantKeys


async def test_a_transaction_that_lost_a_deadlock_runs_again(db: Database) -> None:
    other_holds_1, main_holds_2 = asyncio.Event(), asyncio.Event()

    async def other() -> None:  # takes lock 1, then waits for lock 2
        async with db.as_login() as conn:
            await conn.execute("SET LOCAL deadlock_timeout = '10s'")  # never the victim
            await conn.execute("SELECT pg_advisory_xact_lock(1)")
            other_holds_1.set()
            await main_holds_2.wait()
            await conn.execute("SELECT pg_advisory_xact_lock(2)")

    contender = asyncio.create_task(other())
    await other_holds_1.wait()
    attempts = 0
    async for attempt in retrying():
        with attempt:
            async with db.as_login() as conn:  # takes lock 2, then waits for lock 1: a cycle
                attempts += 1
                await conn.execute("SET LOCAL deadlock_timeout = '50ms'")
                await conn.execute("SELECT pg_advisory_xact_lock(2)")
                main_holds_2.set()
                await asyncio.sleep(0.3)  # the other transaction now waits for lock 2
                await conn.execute("SELECT pg_advisory_xact_lock(1)")
    await contender
    assert attempts == 2


async def test_other_errors_are_not_retried(db: Database) -> None:
    attempts = 0
    with pytest.raises(asyncpg.DivisionByZeroError):
        async for attempt in retrying():
            with attempt:
                attempts += 1
                await db.fetchval("SELECT 1 / 0")
    assert attempts == 1


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[Database]:
    """A database over a pool of one connection: each transaction reuses the last one's."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    yield Database(pool)
    await pool.close()


async def left_on_the_connection(db: Database) -> tuple[bool, str, str | None]:
    async with db.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT current_user AS role, "
                                  "nullif(current_setting('app.tenant_id', true), '') AS tenant")
        assert row is not None
        return conn.is_in_transaction(), row["role"], row["tenant"]


async def test_a_read_only_tenant_transaction_binds_in_one_go_and_leaves_nothing_behind(
    one_connection: Database, tenant: TenantKeys, database_url: str
) -> None:
    """BEGIN and the binding travel as one message; the settings are the transaction's own, so
    they end with it, on success and on error alike, and the next user of the connection finds
    the login's role and no tenant."""
    db = one_connection
    login = await login_name(database_url)
    async with db.tenant(tenant.id, readonly=True, limits=Limits(1234, 5678)) as conn:
        row = await conn.fetchrow(
            "SELECT current_user AS role, current_setting('app.tenant_id') AS tenant, "
            "current_setting('statement_timeout') AS statement, "
            "current_setting('idle_in_transaction_session_timeout') AS idle, "
            "current_setting('transaction_read_only') AS read_only")
        assert row is not None
        assert dict(row) == {"role": APP_ROLE, "tenant": str(tenant.id), "statement": "1234ms",
                             "idle": "5678ms", "read_only": "on"}
    assert await left_on_the_connection(db) == (False, login, None)
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):  # the caller's error, unchanged
        async with db.tenant(tenant.id, readonly=True) as conn:
            await conn.execute("UPDATE tenants SET name = name")
    assert await left_on_the_connection(db) == (False, login, None)
    with pytest.raises(KeyError):
        async with db.tenant(tenant.id, readonly=True):
            raise KeyError("not the database's")
    assert await left_on_the_connection(db) == (False, login, None)


async def test_a_requests_statements_are_never_jit_compiled(
    db: Database, tenant: TenantKeys
) -> None:
    """A request's transactions, reading or writing, turn JIT off for themselves: a plan
    misjudged as large must not spend a second compiling. A job's keep the server's setting."""
    server = await db.pool.fetchval("SELECT current_setting('jit')")
    for readonly in (True, False):
        async with db.tenant(tenant.id, readonly=readonly, limits=Limits(1234, 5678)) as conn:
            assert await conn.fetchval("SELECT current_setting('jit')") == "off"
        async with db.tenant(tenant.id, readonly=readonly) as conn:
            assert await conn.fetchval("SELECT current_setting('jit')") == server


async def test_a_tenant_is_bound_by_its_uuid_alone(db: Database) -> None:
    """The binding is written as literals: anything but a UUID is refused before it is sent."""
    for readonly in (True, False):
        with pytest.raises(TypeError):
            async with db.tenant(
                    "00000000-0000-0000-0000-000000000000'); RESET ROLE; --",  # type: ignore[arg-type]
                    readonly=readonly):
                pass


async def test_a_read_session_closed_later_gives_its_connection_back(
    one_connection: Database, tenant: TenantKeys, database_url: str
) -> None:
    """A request's read transaction ends after its response has gone (close_later), and no
    read can open another once it is closed."""
    db = one_connection
    session = ReadSession(db, tenant.id)
    async with session.connection() as conn:
        assert await conn.fetchval("SELECT current_setting('app.tenant_id')") == str(tenant.id)
    session.close_later()
    await db.drain()
    assert db.pool.get_idle_size() == db.pool.get_size() == 1
    assert await left_on_the_connection(db) == (False, await login_name(database_url), None)
    with pytest.raises(RuntimeError, match="closed"):
        async with session.connection():
            pass


@pytest.mark.parametrize(("size", "beside"), [(3, True), (1, False)])
async def test_a_read_that_would_wait_its_turn_runs_beside_on_an_idle_connection(
    database_url: str, tenant: TenantKeys, size: int, beside: bool
) -> None:
    """While one read holds the session's connection, another takes an idle pooled one,
    bound to the same tenant and as read-only; with none idle it waits its turn instead (it
    never waits for a free connection while holding one)."""
    pool = await create_pool(database_url, min_size=size, max_size=size)
    db = Database(pool)
    session = ReadSession(db, tenant.id)
    first_holds, seen = asyncio.Event(), {}

    async def first() -> None:
        async with session.connection() as conn:
            seen["first"] = await conn.fetchval("SELECT pg_backend_pid()")
            first_holds.set()
            await asyncio.sleep(0.2)

    async def second() -> None:
        await first_holds.wait()
        async with session.connection() as conn:
            seen["second"] = await conn.fetchrow(
                "SELECT pg_backend_pid() AS pid, current_user AS role, "
                "current_setting('app.tenant_id') AS tenant, "
                "current_setting('transaction_read_only') AS read_only")

    await asyncio.gather(first(), second())
    assert (seen["second"]["pid"] != seen["first"]) is beside
    assert dict(seen["second"]) | {"pid": 0} == {"pid": 0, "role": APP_ROLE,
                                                 "tenant": str(tenant.id), "read_only": "on"}
    # Statements, the session's binding included; another connection's is not counted.
    assert session.statements == 3
    session.close_later()
    await db.drain()
    assert pool.get_idle_size() == pool.get_size() == size
    await pool.close()


async def test_one_request_reads_beside_its_connection_on_two_idle_ones_at_most(
    database_url: str, tenant: TenantKeys
) -> None:
    """A document of many lists must not take every idle connection from other requests:
    five reads at once use the session's connection and two idle ones, out of six."""
    pool = await create_pool(database_url, min_size=6, max_size=6)
    db = Database(pool)
    session = ReadSession(db, tenant.id)
    holding = asyncio.Event()

    async def read(first: bool) -> int:
        if not first:
            await holding.wait()
        async with session.connection() as conn:
            pid: int = await conn.fetchval("SELECT pg_backend_pid()")
            holding.set()
            await asyncio.sleep(0.2)  # each holds its connection while the others ask
            return pid

    pids = await asyncio.gather(read(True), *(read(False) for _ in range(4)))
    assert len(set(pids)) == 1 + BESIDE_AT_MOST == 3
    session.close_later()
    await db.drain()
    await pool.close()


async def test_a_read_beside_that_fails_raises_its_error_and_gives_back_a_clean_connection(
    database_url: str, tenant: TenantKeys
) -> None:
    pool = await create_pool(database_url, min_size=2, max_size=2)
    db = Database(pool)
    session = ReadSession(db, tenant.id)
    holding = asyncio.Event()

    async def hold() -> None:
        async with session.connection() as conn:
            await conn.fetchval("SELECT 1")
            holding.set()
            await asyncio.sleep(0.2)

    async def fail() -> None:
        await holding.wait()
        async with session.connection() as conn:
            await conn.fetchval("SELECT 1 / 0")

    results = await asyncio.gather(hold(), fail(), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], asyncpg.DivisionByZeroError)
    session.close_later()
    await db.drain()
    assert pool.get_idle_size() == 2
    # Both connections: no transaction open, no tenant, the login's role.
    async with pool.acquire() as a, pool.acquire() as b:
        for conn in (a, b):
            assert not conn.is_in_transaction()
            assert await conn.fetchval(
                "SELECT nullif(current_setting('app.tenant_id', true), '')") is None
            assert await conn.fetchval("SELECT current_user") == await login_name(database_url)
    await pool.close()


async def test_woken_says_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert await woken(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await woken(event, 5) is True


@pytest.mark.parametrize("turns", range(4))
async def test_a_loop_cancelled_as_its_event_is_set_stops(turns: int) -> None:
    """The event relay's and the webhook dispatcher's loops wait for a wake-up and are stopped
    by cancellation. With asyncio.wait_for (Python 3.11), a cancel that came as the event was
    set was lost: the loop ran on and the app's shutdown waited for it forever."""
    event = asyncio.Event()

    async def loop() -> None:
        while True:
            await woken(event, 60)
            event.clear()

    task = asyncio.create_task(loop())
    for _ in range(turns):
        await asyncio.sleep(0)
    event.set()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done and task.cancelled()


async def test_a_connection_that_never_comes_back_does_not_hold_up_shutdown(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncpg's close() waits for every connection to come back; close_pool waits a while,
    then closes them anyway and says so."""
    pool = await create_pool(database_url, min_size=1, max_size=2)
    kept = await pool.acquire()
    async with asyncio.timeout(5):
        await close_pool(pool, seconds=0.2)
    assert pool.is_closing() and kept is not None
    assert any("still in use" in r.getMessage() for r in caplog.records)
    free = await create_pool(database_url, min_size=1, max_size=1)
    async with asyncio.timeout(5):
        await close_pool(free, seconds=5)  # nothing held: closed at once, nothing said
    assert free.is_closing() and sum("still in use" in r.getMessage() for r in caplog.records) == 1


async def test_a_listener_whose_connection_closed_unannounced_reconnects(
    database_url: str
) -> None:
    """asyncpg can close a connection without calling its termination listeners: a backend
    terminated while a query runs on it (MagicStack/asyncpg#1069). The write notices then
    kept their dead connection and answered uncached until the process restarted. Aborting
    the protocol closes the connection the same way, listeners uncalled."""
    connections: asyncio.Queue[asyncpg.Connection] = asyncio.Queue()
    task = asyncio.create_task(listen(database_url, "nothing_sent", lambda _payload: None,
                                      connected=connections.put_nowait,
                                      reconnect_seconds=0.05))
    try:
        async with asyncio.timeout(10):
            first = await connections.get()
            first._protocol.abort()  # type: ignore[attr-defined]
            assert first.is_closed()
            second = await connections.get()
        assert not second.is_closed() and second is not first
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
