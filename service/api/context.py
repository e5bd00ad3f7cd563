"""The typed per-request context every resolver receives as info.context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arq.connections import ArqRedis
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from service.auth import Principal, Scope
from service.config import Settings
from service.db import Connection, Database, ReadSession
from service.events import Broker

if TYPE_CHECKING:
    from service.api.loaders import Loaders


@dataclass
class Services:
    """Shared clients, opened once in the app's lifespan."""

    settings: Settings
    db: Database
    redis: ArqRedis
    broker: Broker | None = None


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

    def __post_init__(self) -> None:
        from service.api.loaders import Loaders

        self.loaders = Loaders.for_context(self)

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

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        """A connection for reads in this request, bound to the caller's tenant."""
        if self.read_session is not None:
            async with self.read_session.connection() as conn:
                yield conn
        else:
            async with self.db.tenant(self.tenant_principal.tenant_id, readonly=True) as conn:
                yield conn

    def allows(self, scope: Scope) -> bool:
        return self.principal is not None and self.principal.allows(scope)
