"""The typed per-request context every resolver receives as info.context."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from arq.connections import ArqRedis
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry import Info
from strawberry.extensions import SchemaExtension

from service.api.key_watch import Sockets
from service.api.loaders import Loaders
from service.api.nodes import subject_ids
from service.events.changes import Broker
from service.infra.auth import Principal, PrincipalCache, Scope
from service.infra.config import Settings
from service.infra.db import Connection, Database, Limits
from service.infra.queue import enqueue
from service.infra.read_session import ReadSession
from service.infra.replicas import Reads
from service.infra.throttle import Throttle
from service.usecases.unit_of_work import Actor, UnitOfWork, unit_of_work

if TYPE_CHECKING:  # built by the HTTP edge, which sits above this layer
    from service.http.persisted_queries import PersistedQueries
    from service.http.response_cache import ResponseCache


@dataclass
class Services:
    """Shared clients, opened once in the app's lifespan."""

    settings: Settings
    db: Database
    redis: ArqRedis
    broker: Broker | None = None
    throttle: Throttle | None = None
    sockets: Sockets | None = None
    cache: ResponseCache | None = None
    principals: PrincipalCache | None = None
    persisted: PersistedQueries | None = None
    # Where reads go (replicas, DATABASE_READ_URL); without one, the primary.
    reads: Reads | None = None


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    services: Services
    principal: Principal | None
    request_id: str
    # Set by the WebSocket protocol from the connection_init payload.
    connection_params: dict[str, Any] | None = None
    # HTTP requests share one read transaction; subscriptions read per call (they live long).
    read_session: ReadSession | None = None
    loaders: Loaders = field(init=False)
    extra: dict[str, Any] = field(default_factory=dict)
    # The open write transaction of the mutation running now, if any: reads go to it.
    _writing: Connection | None = field(default=None, init=False, repr=False)
    # The points checking this operation's document took (charges.charge_document), if new.
    document_cost: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        # The loaders reach their context through a weak reference. A strong one makes the
        # context and its loaders a reference cycle: everything the request loaded would then
        # wait for the cycle collector instead of going when the request does (#21: 3,800
        # objects a page of people, about 1 ms of collection a request).
        self.loaders = Loaders.for_context(cast(Context, weakref.proxy(self)))

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def tenant_principal(self) -> Principal:
        """The authenticated caller; every GraphQL request has one (checked before execution)."""
        if self.principal is None:
            raise RuntimeError("request reached a resolver without authentication")
        return self.principal

    @property
    def limits(self) -> Limits:
        return Limits.of(self.settings)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        """A connection for reads in this request, bound to the caller's tenant."""
        if self._writing is not None:
            yield self._writing
        elif self.read_session is not None:
            async with self.read_session.connection() as conn:
                yield conn
        else:
            async with self._read_transaction(self.limits) as conn:
                yield conn

    @asynccontextmanager
    async def read_within(self, seconds: float) -> AsyncIterator[Connection]:
        """A read transaction of its own whose statements stop after `seconds` (a heavy read
        with a limit of its own, such as a preview); the statement that runs out raises
        asyncpg's QueryCanceledError and ends only this transaction."""
        base = self.limits
        limits = Limits(max(1, min(base.statement_timeout_ms, int(seconds * 1000))),
                        base.idle_in_transaction_timeout_ms)
        async with self._read_transaction(limits) as conn:
            yield conn

    @asynccontextmanager
    async def _read_transaction(self, limits: Limits) -> AsyncIterator[Connection]:
        # Without replicas, Reads answers the primary.
        reads = self.services.reads or Reads(self.db)
        async with reads.transaction(self.tenant_principal.tenant_id, limits) as (_, _, conn):
            yield conn

    @asynccontextmanager
    async def work(self, info: Info) -> AsyncIterator[UnitOfWork]:
        """The unit of work of a mutation: one transaction bound to the caller's tenant, in
        the caller's name (its API key), recording the events the use case adds and queueing
        the jobs it starts once it commits; the audit log notes it as the mutation's name with
        the ids among its arguments. Later fields read what it committed.

        A request never holds one pooled connection while it waits for another: the read
        transaction of earlier fields (a previous mutation's payload) ends first, and reads
        during the mutation use its own transaction. Otherwise a burst of documents with two
        mutations each holds every connection of the pool while waiting for one more."""
        if self._writing is not None:
            raise RuntimeError("a mutation's transaction is already open in this request")
        if self.read_session is not None:
            await self.read_session.release()
        principal = self.tenant_principal
        # The mutation's field itself: its arguments with the variables in place.
        arguments = getattr(info.selected_fields[0], "arguments", {})
        async with unit_of_work(self.db, principal.tenant_id,
                                Actor.api_key(principal.api_key_id),
                                enqueue=self._enqueue, limits=self.limits,
                                audit=info.field_name,
                                subjects=subject_ids(arguments)) as work:
            self._writing = work.conn
            try:
                yield work
            finally:
                self._writing = None
        self.loaders.reset()

    async def _enqueue(self, job_id: UUID) -> None:
        await enqueue(self.services.redis, self.settings.queue_name, job_id)

    def fresh(self) -> Context:
        """A copy for one operation, or one event of a subscription, on a WebSocket: with
        loaders of its own (the connection's would answer later operations with what earlier
        ones loaded) and no open write of another operation. The connection's own state
        (principal, its key watch in `extra`) is shared."""
        return dataclasses.replace(self)

    def allows(self, scope: Scope) -> bool:
        return self.principal is not None and self.principal.allows(scope)


class OperationContext(SchemaExtension):
    """Gives every operation on a WebSocket a context of its own (`Context.fresh`); an HTTP
    request's context already is one operation's."""

    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if isinstance(context, Context) and isinstance(context.request, WebSocket):
            execution.context = context.fresh()
        yield
