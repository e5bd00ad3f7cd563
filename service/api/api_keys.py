"""API keys through GraphQL: list, create (the secret is shown once), revoke. ADMIN only."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from service.api.errors import ClientError, ErrorCode, UserError, from_problems
from service.api.nodes import convert_all, decode_id, load_nodes
from service.api.pagination import (
    Connection,
    check_first,
    created_at_id_key,
    decode_cursor,
    to_connection,
)
from service.api.permissions import RequireAdmin
from service.infra.auth import Scope
from service.store import api_keys as key_store
from service.usecases import api_keys as key_cases


@strawberry.enum
class ApiKeyScope(enum.Enum):
    READ = "READ"
    WRITE = "WRITE"
    ADMIN = "ADMIN"


@strawberry.type(description="An API key of this tenant. The secret itself is never readable.")
class ApiKey(relay.Node):
    id: relay.NodeID[str]
    name: str
    prefix: str = strawberry.field(description="The key's first characters, to tell keys apart.")
    scopes: list[ApiKeyScope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    is_integration: bool = strawberry.field(
        description="Buying-group membership changes made with this key count as source API."
    )

    @strawberry.field
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def from_row(cls, key: key_store.ApiKey) -> ApiKey:
        return cls(
            id=str(key.id),
            name=key.name,
            prefix=key.prefix,
            scopes=[ApiKeyScope(s) for s in key.scopes],
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            is_integration=key.is_integration,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        if not info.context.allows(Scope.ADMIN):
            return [None for _ in node_ids]
        return convert_all(await load_nodes(info.context.loaders.api_key, node_ids), cls.from_row)


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[ApiKeyScope]
    is_integration: bool = strawberry.field(
        default=False,
        description="For partner integrations and journeys: their buying-group membership "
        "changes are recorded with source API (below MANUAL, above SYSTEM).",
    )


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey | None
    secret: str | None = strawberry.field(
        description="The key to send as `Authorization: Bearer <secret>`. Shown only here, once."
    )
    user_errors: list[UserError]


@strawberry.input
class RevokeApiKeyInput:
    id: relay.GlobalID


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKey | None
    user_errors: list[UserError]


async def api_keys(
    info: strawberry.Info,
    first: int = 20,
    after: str | None = None,
    include_revoked: bool = False,
) -> Connection[ApiKey]:
    context = info.context
    if not context.allows(Scope.ADMIN):
        raise ClientError("Listing API keys needs the ADMIN scope.", ErrorCode.FORBIDDEN)
    limit = check_first(first, context.settings.max_page_size)
    cursor = decode_cursor(after, created_at_id_key)
    async with context.read() as conn:
        page = await key_store.list_api_keys(
            conn, limit=limit, after=cursor, include_revoked=include_revoked
        )
    return to_connection(
        page, ApiKey.from_row, lambda k: (k.created_at, k.id), has_previous=cursor is not None
    )


@strawberry.type
class ApiKeyMutations:
    @strawberry.mutation(permission_classes=[RequireAdmin])
    async def create_api_key(
        self, info: strawberry.Info, input: CreateApiKeyInput
    ) -> CreateApiKeyPayload:
        async with info.context.work(info) as work:
            change = await key_cases.create_key(work, input.name,
                                                {Scope(s.value) for s in input.scopes},
                                                is_integration=input.is_integration)
        if change.value is None:
            return CreateApiKeyPayload(api_key=None, secret=None,
                                       user_errors=from_problems(change.problems, "input"))
        return CreateApiKeyPayload(api_key=ApiKey.from_row(change.value.key),
                                   secret=change.value.secret, user_errors=[])

    @strawberry.mutation(permission_classes=[RequireAdmin])
    async def revoke_api_key(
        self, info: strawberry.Info, input: RevokeApiKeyInput
    ) -> RevokeApiKeyPayload:
        key_id = decode_id(input.id, "ApiKey", ["input", "id"])
        async with info.context.work(info) as work:
            change = await key_cases.revoke_key(work, key_id)
        if (known := info.context.services.principals) is not None:
            known.forget(key_id)  # this process at once; others within AUTH_CACHE_SECONDS
        if change.value is None:
            return RevokeApiKeyPayload(api_key=None,
                                       user_errors=from_problems(change.problems, "input"))
        return RevokeApiKeyPayload(api_key=ApiKey.from_row(change.value), user_errors=[])
