"""The read-only transaction a request's resolvers share, and the reads beside it on idle
connections."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from service.infra.db import Connection, Database, Limits
from service.infra.replicas import Reads

# What asyncpg sends of its own when it meets a type it has not asked about yet.
_INTROSPECTION = ("typeinfo_tree", "current_setting('jit')", "set_config('jit', $1",
                  "pg_catalog.")


# Reads of one request running beside its connection at once, by default (DB_READS_BESIDE): a
# document of many aliased lists must not take every idle connection from other requests.
BESIDE_AT_MOST = 2


class ReadSession:
    """One read-only transaction that a request's resolvers share, taking turns on its
    connection: a query's nested lists then cost one statement each, not one transaction each.

    READ COMMITTED, so reads after a mutation in the same request see what it committed, and
    each statement sees what was committed when it began: a read that would wait for another
    to finish with the connection (a page's look-ahead asks for several lists at once) runs
    beside it on an idle pooled connection instead, seeing no less than it would have.

    Each transaction runs where `reads` sends the tenant's reads (a replica that has caught up,
    or the primary), and the reads beside it on the same server."""

    def __init__(self, db: Database, tenant_id: UUID, limits: Limits | None = None,
                 beside_at_most: int = BESIDE_AT_MOST, reads: Reads | None = None) -> None:
        self._db = db
        self._reads = reads or Reads(db)
        self._source = db  # the server of the transaction open now, or of the last one
        # The server each transaction ran on (`primary` or a replica's name), in order.
        self.read_from: list[str] = []
        self._beside_at_most = beside_at_most
        self._tenant_id = tenant_id
        self._limits = limits
        self._lock = asyncio.Lock()
        self._stack: contextlib.AsyncExitStack | None = None
        self._conn: Connection | None = None
        self._closed = False
        self._beside = 0  # reads running beside on idle connections now
        # Statements sent on this session, the one binding the tenant included (a cost figure
        # for tests and benchmarks; BEGIN, COMMIT and idle connections' bindings are not
        # counted, so the figure does not depend on how many were idle; nor is asyncpg's
        # introspection of types).
        self.statements = 0

    def _count(self, record: Any) -> None:
        # asyncpg asks a connection's server about types the first time it meets them: which
        # connection a read gets says when, so those questions are no statements of ours.
        if not any(mark in record.query for mark in _INTROSPECTION):
            self.statements += 1

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        if self._lock.locked() and not self._closed and self._beside < self._beside_at_most:
            self._beside += 1  # taken before waiting for anything: the limit holds meanwhile
            try:
                beside = contextlib.AsyncExitStack()
                conn = await beside.enter_async_context(
                    self._source.idle_read(self._tenant_id, self._limits))
                if conn is not None:
                    conn.add_query_logger(self._count)
                    beside.callback(conn.remove_query_logger, self._count)
                    try:
                        yield conn
                    except BaseException:
                        await beside.__aexit__(*sys.exc_info())
                        raise
                    self._db.later(beside.aclose())  # after the caller goes on
                    return
                await beside.aclose()
            finally:
                self._beside -= 1
        async with self._lock:
            if self._closed:
                # graphql-core settles the resolvers of an abandoned sibling field in the
                # background, after the response: they must not open a transaction no one
                # would close.
                raise RuntimeError("the request has finished: its read session is closed")
            if self._conn is None:
                self._stack = contextlib.AsyncExitStack()
                name, self._source, opened = await self._stack.enter_async_context(
                    self._reads.transaction(self._tenant_id, self._limits))
                self._conn = opened
                self.read_from.append(name)
                self.statements += 1
                opened.add_query_logger(self._count)
                self._stack.callback(opened.remove_query_logger, self._count)
            yield self._conn

    async def release(self) -> None:
        """End the transaction and give its connection back; a later read begins another."""
        async with self._lock:
            await self._end()

    def close_later(self) -> None:
        """`close`, without the caller waiting (its response is on the way): ending a
        read-only transaction and resetting its connection, two round trips, change nothing
        the response says."""
        if self._conn is None and not self._lock.locked():
            self._closed = True
        else:
            self._db.later(self.close())

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            await self._end()

    async def _end(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        # Reads beside the next transaction while it opens go to the primary, which has every
        # write this request made, not to the server the last one chose before them.
        self._stack, self._conn, self._source = None, None, self._db
