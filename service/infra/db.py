"""The PostgreSQL pool and the two kinds of transaction the service runs.

Tenant transactions switch to the `buying_groups_app` role, which row-level security applies to,
and set `app.tenant_id` for the policies. System transactions (authentication, job claims and
leases, the sweeper, retention, metrics) switch to `buying_groups_system`, which sees across
tenants only what that work needs (migration 0015). The login itself is granted nothing: the
service refuses to run as one that could step around row-level security (service/infra/login.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias
from uuid import UUID

import asyncpg
import orjson
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

APP_ROLE = "buying_groups_app"
SYSTEM_ROLE = "buying_groups_system"

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    from service.infra.config import Settings

    # Pooled connections are proxies; both kinds answer the same calls.
    Connection: TypeAlias = (
        asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    )
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    Connection = asyncpg.Connection
    Pool = asyncpg.Pool


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: Connection) -> None:
    # In a transaction: asyncpg turns JIT off around its questions about types (they are slow
    # to compile) with statements of their own, which behind PgBouncer in transaction mode
    # would each run on another server connection, the question itself with JIT on (1.4 s on
    # PostgreSQL 15). Later questions come inside the service's transactions.
    async with conn.transaction():
        for type_name in ("json", "jsonb"):
            await conn.set_type_codec(
                type_name, encoder=_encode_json, decoder=orjson.loads, schema="pg_catalog"
            )
        # asyncpg asks the server about uuid[] the first time a statement uses it (every
        # lookup by ids does): asked here, that is not in the first request a new connection
        # serves.
        await conn.fetchval("SELECT $1::uuid[]", [])




async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10,
                      command_timeout: float = 60, statement_cache_size: int = 100) -> Pool:
    """`statement_cache_size`: asyncpg's prepared statements kept per connection; 0 behind a
    pooler in transaction mode (DB_STATEMENT_CACHE_SIZE), where a named statement would be
    prepared on one server connection and run on another."""
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection,
        command_timeout=command_timeout, statement_cache_size=statement_cache_size,
    )
    assert pool is not None
    return pool


class PoolExhausted(Exception):
    """No pooled connection came free in time: the service is overloaded (HTTP 503)."""


@dataclass(frozen=True)
class Limits:
    """Time limits of a request's transactions, which also run without JIT (jobs run without
    them: a full rescoring or a partition's creation may take longer, and they hold no client
    waiting)."""

    statement_timeout_ms: int
    idle_in_transaction_timeout_ms: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.db_statement_timeout_ms, settings.db_idle_in_transaction_timeout_ms)


_PLAIN = re.compile(r"[A-Za-z0-9_.-]+")


def _binding(tenant_id: UUID, limits: Limits | None, *, unseen: bool = False,
             actor: str | None = None) -> str:
    """The statement binding a transaction to a tenant: its settings are local to the
    transaction, so they end with it whatever happens. Written as literals (every value is a
    name, a UUID or a number, checked below) so that it can share a message with BEGIN."""
    if not isinstance(tenant_id, UUID):
        raise TypeError(f"a tenant is bound by its UUID, not by {type(tenant_id).__name__}")
    settings = {"role": APP_ROLE, "app.tenant_id": str(tenant_id)}
    if unseen:
        settings["app.unseen"] = "on"
    if actor is not None:
        settings["app.actor"] = actor  # who makes the change (migration 0021)
    if limits is not None:
        settings["statement_timeout"] = str(int(limits.statement_timeout_ms))
        settings["idle_in_transaction_session_timeout"] = str(
            int(limits.idle_in_transaction_timeout_ms))
        # JIT pays only on large statements, which a request does not run; a plan misjudged
        # as large (statistics not yet caught up with a big job) spent up to 1.4 s of a
        # browse page's 1.8 s compiling.
        settings["jit"] = "off"
    for value in settings.values():
        if not _PLAIN.fullmatch(value):
            raise ValueError(f"not a plain setting value: {value!r}")
    return "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)"
                                 for name, value in settings.items())


@asynccontextmanager
async def _read_only(conn: Connection, binding: str) -> AsyncIterator[None]:
    """A read-only transaction begun and bound to its tenant in one round trip: BEGIN and the
    binding go as one simple-protocol message, where asyncpg's `transaction()` would send BEGIN
    on its own. Reads take no savepoints, so asyncpg need not know of this transaction (a
    `conn.transaction()` inside it fails loudly)."""
    try:
        await conn.execute(f"BEGIN READ ONLY; {binding}")
        yield
    except BaseException:
        if not conn.is_closed():
            # The original error matters; one from a broken connection does not (the pool
            # closes a connection whose reset fails).
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


class Database:
    """Hands out transactions; the only place that knows how a tenant is bound to one."""

    def __init__(self, pool: Pool, acquire_timeout: float | None = None) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        self._later: set[asyncio.Task[None]] = set()

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` without the caller waiting for it (ending a request's read transaction
        after its response has gone); `drain` waits for all of it."""
        task = asyncio.create_task(work)
        self._later.add(task)
        task.add_done_callback(self._done_later)

    def _done_later(self, task: asyncio.Task[None]) -> None:
        self._later.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logging.getLogger(__name__).error("background database work failed",
                                              exc_info=task.exception())

    async def drain(self) -> None:
        """Waits for the work handed to `later` (before the pool closes)."""
        while self._later:
            await asyncio.wait(set(self._later))

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Connection]:
        # asyncio.timeout, not acquire's own timeout: that one waits in asyncio.wait_for, which
        # on Python 3.11 can drop a connection acquired just as the caller is cancelled (the
        # connection never returns to the pool, and closing the pool then waits forever).
        try:
            async with asyncio.timeout(self.acquire_timeout):
                conn = await self.pool.acquire()
        except TimeoutError:
            raise PoolExhausted(
                f"no database connection came free within {self.acquire_timeout} s") from None
        try:
            yield conn
        finally:
            await self.pool.release(conn)

    @asynccontextmanager
    async def tenant(self, tenant_id: UUID, *, readonly: bool = False,
                     limits: Limits | None = None, unseen: bool = False,
                     actor: str | None = None) -> AsyncIterator[Connection]:
        """A transaction bound to the tenant; `unseen`: it writes only what no API answer shows
        (the relay's bookkeeping), so it announces no write and cached answers stay valid
        (migration 0020); `actor`: who makes the change, which the events and jobs it writes
        carry (0021; a plain name such as `api_key.<id>`)."""
        binding = _binding(tenant_id, limits, unseen=unseen, actor=actor)
        if readonly:
            async with self._acquire() as conn, _read_only(conn, binding):
                yield conn
            return
        async with self._acquire() as conn, conn.transaction():
            await conn.execute(binding)
            yield conn

    @asynccontextmanager
    async def idle_read(self, tenant_id: UUID, limits: Limits | None = None
                        ) -> AsyncIterator[Connection | None]:
        """A read-only tenant transaction on a connection no one is using, or None at once
        when the pool holds none idle: for a read that would otherwise wait its turn on
        another's connection, never for a free one."""
        if self.pool.get_idle_size() == 0:
            yield None
            return
        # Without a timeout nothing suspends between the count and the taking, and the pool
        # hands out a connected holder first: the idle connection counted is the one taken.
        conn = await self.pool.acquire()
        try:
            async with _read_only(conn, _binding(tenant_id, limits)):
                yield conn
        finally:
            await self.pool.release(conn)

    @asynccontextmanager
    async def system(self, *, unseen: bool = False) -> AsyncIterator[Connection]:
        """A transaction across tenants, as the system role: jobs, key lookups, retention.
        `unseen` as for `tenant`."""
        async with self._acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('role', $1, true), "
                               "set_config('app.unseen', $2, true)",
                               SYSTEM_ROLE, "on" if unseen else "off")
            yield conn

    @asynccontextmanager
    async def as_login(self) -> AsyncIterator[Connection]:
        """A transaction as the connecting login itself, no role switched to: for the owner's
        tools (tests' and benchmarks' set-up); the service never uses it."""
        async with self._acquire() as conn, conn.transaction():
            yield conn

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchval(query, *args)


# PostgreSQL aborts one of two transactions that wait on each other's rows (a deadlock: the
# nightly rescoring and a sync's rescoring of the same groups, say) or a serializable one that
# lost a race; running it again is the remedy.
TRANSIENT_ERRORS = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


async def through_pooler(conn: Any) -> bool:
    """Whether the connection reaches PostgreSQL through a pooler such as PgBouncer: the
    process id a server announces at connect is then the pooler's own invention."""
    return bool(conn.get_server_pid() != await conn.fetchval("SELECT pg_backend_pid()"))


class ThroughPooler(Exception):
    """Work that needs a session of its own (LISTEN, migrate's lock) reached a pooler."""


CLOSED_CHECK_SECONDS = 1.0


async def listen(dsn: str, channel: str, notified: Callable[[str], None], *,
                 connected: Callable[[Any], None] | None = None,
                 disconnected: Callable[[], None] | None = None, what: str = "LISTEN",
                 reconnect_seconds: float = 1.0) -> None:
    """Call `notified(payload)` for each NOTIFY on `channel`, on a connection of its own, until
    cancelled; reconnects when the connection is lost. `connected(conn)` runs after each
    connect (notifications sent meanwhile are gone: the caller looks for their work another
    way), `disconnected()` once that connection is gone. `notified` is called in the order the
    server sent the notices, before the result of any later statement on `conn` resumes its
    awaiter (asyncpg schedules both with call_soon)."""
    log = logging.getLogger(__name__)
    while True:
        conn: Any = None
        listening = False
        try:
            conn = await asyncpg.connect(dsn, statement_cache_size=0)
            if await through_pooler(conn):
                # A pooler in transaction mode hands the session's server connection to
                # others: the notices would go to them, or nowhere.
                raise ThroughPooler(f"{what}: LISTEN reaches PostgreSQL through a pooler; "
                                    "set DATABASE_LISTEN_URL to the server itself")
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())

            def callback(_conn: Any, _pid: int, _channel: str, payload: object) -> None:
                notified(str(payload))

            await conn.add_listener(channel, callback)
            listening = True
            if connected is not None:
                connected(conn)
            # asyncpg may close a connection without calling its termination listeners (a
            # FATAL error that lands during a query, MagicStack/asyncpg#1069): look as well.
            while not await woken(lost, CLOSED_CHECK_SECONDS):
                if conn.is_closed():
                    break
            log.warning("%s: lost its connection; reconnecting", what)
        except asyncio.CancelledError:
            raise
        except ThroughPooler as exc:
            log.error("%s", exc)
        except Exception:
            log.warning("%s: lost its connection; reconnecting", what, exc_info=True)
        finally:
            if listening and disconnected is not None:
                disconnected()
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
        await asyncio.sleep(reconnect_seconds)


POOL_CLOSE_SECONDS = 10.0


async def close_pool(pool: Pool, seconds: float = POOL_CLOSE_SECONDS) -> None:
    """Close the pool once its connections are back, or after `seconds` close them anyway: a
    connection that never comes back (held by work that cannot end) must not hold shutdown
    up forever, which asyncpg's close() would."""
    try:
        async with asyncio.timeout(seconds):
            await pool.close()
    except TimeoutError:
        logging.getLogger(__name__).warning(
            "database pool: connections still in use after %s s; closing them", seconds)
        pool.terminate()


async def woken(event: asyncio.Event, seconds: float) -> bool:
    """Wait at most `seconds` for `event`; whether it was set. Not asyncio.wait_for: on Python
    3.11 it loses a cancellation that arrives as the event is set (CPython gh-86296), and a
    loop cancelled at that moment runs on while whoever stopped it waits forever."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


def retrying(attempts: int = 4,
             on: tuple[type[BaseException], ...] = TRANSIENT_ERRORS) -> AsyncRetrying:
    """Attempts at a transaction, again after a transient error (or any of `on`), with
    jittered exponential backoff:
    `async for attempt in retrying(): with attempt: async with db.tenant(...) ...`."""
    return AsyncRetrying(retry=retry_if_exception_type(on),
                         stop=stop_after_attempt(attempts),
                         wait=wait_random_exponential(multiplier=0.05, max=2), reraise=True)


async def login_name(dsn: str) -> str:
    """The role a URL logs in as (its user part may be absent: PGUSER, the OS user...)."""
    # No named statement: through PgBouncer it would outlive this connection, on a server
    # connection others use next.
    conn = await asyncpg.connect(dsn, statement_cache_size=0)
    try:
        return str(await conn.fetchval("SELECT session_user"))
    finally:
        await conn.close()


async def ensure_database(server_url: str, name: str) -> None:
    """Create database `name` on the server if it does not exist yet."""
    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # A concurrent process may create it in the meantime.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


