"""Webhook endpoints through GraphQL (ADMIN): create (the signing secret is shown once),
update, delete, list, replay. Delivery itself is the worker's (service/events/webhooks.py)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from service.api.errors import ClientError, ErrorCode, UserError, user_error
from service.api.nodes import decode_id
from service.api.permissions import RequireAdmin
from service.events.changes import EventKind, cursor_position
from service.events.webhooks import new_signing_secret
from service.infra.auth import Scope
from service.infra.outbound import destination_problem, url_problem
from service.store import event_log
from service.store import webhooks as webhook_store

MAX_ENDPOINTS = 20
MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 1000


@strawberry.enum
class WebhookEndpointStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


@strawberry.type(description=(
    "Where the service POSTs this tenant's buying-group events, signed the Standard Webhooks "
    "way with the endpoint's secret (shown once, when created)."))
class WebhookEndpoint(relay.Node):
    id: relay.NodeID[str]
    url: str
    kinds: list[EventKind] = strawberry.field(
        description="The kinds delivered; empty: every kind.")
    description: str | None
    status: WebhookEndpointStatus = strawberry.field(description=(
        "DISABLED after failing for WEBHOOK_DISABLE_AFTER_HOURS (3 days) without a success, "
        "or by updateWebhookEndpoint; a disabled endpoint is sent nothing."))
    consecutive_failures: int
    failing_since: datetime | None
    last_delivery_at: datetime | None = strawberry.field(
        description="The last delivery the endpoint accepted (HTTP 2xx).")
    last_error: str | None
    disabled_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: webhook_store.Endpoint) -> WebhookEndpoint:
        return cls(id=str(row.id), url=row.url, kinds=[EventKind(k) for k in row.kinds],
                   description=row.description, status=WebhookEndpointStatus(row.status),
                   consecutive_failures=row.consecutive_failures,
                   failing_since=row.failing_since, last_delivery_at=row.last_delivery_at,
                   last_error=row.last_error, disabled_at=row.disabled_at,
                   created_at=row.created_at)

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str],
                            required: bool = False) -> list[Any]:
        ids = list(node_ids)
        if not info.context.allows(Scope.ADMIN):
            return [None for _ in ids]
        async with info.context.read() as conn:
            rows = {str(r.id): r for r in await webhook_store.endpoints(conn)}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description=(
        "http(s); must resolve to public addresses unless the operator allows the host "
        "(OUTBOUND_ALLOWED_HOSTS)."))
    kinds: list[EventKind] | None = strawberry.field(
        default=None, description="The kinds to deliver; null or empty: every kind.")
    description: str | None = None


@strawberry.input
class UpdateWebhookEndpointInput:
    id: relay.GlobalID
    url: str | None = None
    kinds: list[EventKind] | None = strawberry.field(
        default=None, description="Replaces the kinds; an empty list: every kind.")
    description: str | None = None
    status: WebhookEndpointStatus | None = strawberry.field(
        default=None, description="ACTIVE enables a disabled endpoint again (its failure "
        "count starts afresh; replayWebhookEvents sends what it missed).")


@strawberry.input
class DeleteWebhookEndpointInput:
    id: relay.GlobalID


@strawberry.input
class ReplayWebhookEventsInput:
    endpoint_id: relay.GlobalID
    after: str | None = strawberry.field(default=None, description=(
        "An event's cursor: every matching event after it is delivered again (under its "
        "first webhook-id where it had one); null: every event the log still holds."))


@strawberry.type
class WebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None
    user_errors: list[UserError]


@strawberry.type
class CreateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None
    signing_secret: str | None = strawberry.field(description=(
        "whsec_ and the base64 key: verify each delivery's webhook-signature with it. Shown "
        "only here, once."))
    user_errors: list[UserError]


@strawberry.type
class DeleteWebhookEndpointPayload:
    deleted_webhook_endpoint_id: relay.GlobalID | None
    user_errors: list[UserError]


@strawberry.type
class ReplayWebhookEventsPayload:
    queued: int = strawberry.field(description="Deliveries queued.")
    user_errors: list[UserError]


async def webhook_endpoints(info: strawberry.Info) -> list[WebhookEndpoint]:
    if not info.context.allows(Scope.ADMIN):
        raise ClientError("Listing webhook endpoints needs the ADMIN scope.",
                          ErrorCode.FORBIDDEN)
    async with info.context.read() as conn:
        rows = await webhook_store.endpoints(conn)
    return [WebhookEndpoint.from_row(r) for r in rows]


async def _url_errors(info: strawberry.Info, url: str) -> list[UserError]:
    path = ["input", "url"]
    if len(url) > MAX_URL_LENGTH:
        return [user_error(path, ErrorCode.TOO_LONG,
                           f"url is longer than {MAX_URL_LENGTH} characters")]
    if (problem := url_problem(url)) is not None:
        return [user_error(path, ErrorCode.INVALID_VALUE, f"url {problem}")]
    if (problem := await destination_problem(url, info.context.settings.allowed_hosts)):
        return [user_error(path, ErrorCode.ADDRESS_NOT_ALLOWED,
                           f"url may not be called: {problem}")]
    return []


def _description_errors(description: str | None) -> list[UserError]:
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        return [user_error(["input", "description"], ErrorCode.TOO_LONG,
                           f"description is longer than {MAX_DESCRIPTION_LENGTH} characters")]
    return []


def _kinds(kinds: list[EventKind] | None) -> list[str]:
    return sorted({k.value for k in kinds or ()})


def _no_endpoint() -> list[UserError]:
    return [user_error(["input", "id"], ErrorCode.NOT_FOUND, "no such webhook endpoint")]


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Have this tenant's events POSTed to a URL; the answer holds the signing secret, "
        "once."))
    async def create_webhook_endpoint(
        self, info: strawberry.Info, input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointPayload:
        url = input.url.strip()
        errors = [*await _url_errors(info, url), *_description_errors(input.description)]
        box = info.context.settings.secrets
        if not box.available:
            errors.append(user_error(
                ["input"], ErrorCode.SERVICE_UNAVAILABLE,
                "this service has no SECRET_KEY to encrypt signing secrets with; ask its "
                "operator"))
        if errors:
            return CreateWebhookEndpointPayload(webhook_endpoint=None, signing_secret=None,
                                                user_errors=errors)
        secret = new_signing_secret()
        tenant_id = info.context.tenant_principal.tenant_id
        async with info.context.write() as conn:
            # Serialised per tenant, so two creations cannot both pass the limit.
            await webhook_store.lock_endpoints(conn, tenant_id)
            if await webhook_store.count_endpoints(conn) >= MAX_ENDPOINTS:
                return CreateWebhookEndpointPayload(
                    webhook_endpoint=None, signing_secret=None, user_errors=[user_error(
                        ["input"], ErrorCode.LIMIT_REACHED,
                        f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints")])
            row = await webhook_store.create_endpoint(
                conn, tenant_id, url=url, kinds=_kinds(input.kinds),
                description=input.description, sealed_secret=box.seal(secret))
        return CreateWebhookEndpointPayload(webhook_endpoint=WebhookEndpoint.from_row(row),
                                            signing_secret=secret, user_errors=[])

    @strawberry.mutation(permission_classes=[RequireAdmin])
    async def update_webhook_endpoint(
        self, info: strawberry.Info, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        endpoint_id = decode_id(input.id, "WebhookEndpoint", ["input", "id"])
        url = input.url.strip() if input.url is not None else None
        errors = [*(await _url_errors(info, url) if url is not None else []),
                  *_description_errors(input.description)]
        if errors:
            return WebhookEndpointPayload(webhook_endpoint=None, user_errors=errors)
        async with info.context.write() as conn:
            current = await webhook_store.get_endpoint(conn, endpoint_id, lock=True)
            if current is None:
                return WebhookEndpointPayload(webhook_endpoint=None, user_errors=_no_endpoint())
            status = input.status.value if input.status is not None else current.status
            row = await webhook_store.update_endpoint(
                conn, endpoint_id, url=url if url is not None else current.url,
                kinds=_kinds(input.kinds) if input.kinds is not None else current.kinds,
                description=input.description if input.description is not None
                else current.description, active=status == "ACTIVE")
        return WebhookEndpointPayload(webhook_endpoint=WebhookEndpoint.from_row(row),
                                      user_errors=[])

    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Stop delivering to the endpoint; deliveries not yet made are dropped."))
    async def delete_webhook_endpoint(
        self, info: strawberry.Info, input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointPayload:
        endpoint_id = decode_id(input.id, "WebhookEndpoint", ["input", "id"])
        async with info.context.write() as conn:
            deleted = await webhook_store.delete_endpoint(conn, endpoint_id)
        if not deleted:
            return DeleteWebhookEndpointPayload(deleted_webhook_endpoint_id=None,
                                                user_errors=_no_endpoint())
        return DeleteWebhookEndpointPayload(deleted_webhook_endpoint_id=input.id,
                                            user_errors=[])

    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Deliver the endpoint's events after a cursor again, e.g. after it was disabled or "
        "its receiver lost data. The endpoint must be ACTIVE."))
    async def replay_webhook_events(
        self, info: strawberry.Info, input: ReplayWebhookEventsInput
    ) -> ReplayWebhookEventsPayload:
        endpoint_id = decode_id(input.endpoint_id, "WebhookEndpoint", ["input", "endpointId"])
        tenant_id = info.context.tenant_principal.tenant_id
        async with info.context.write() as conn:
            endpoint = await webhook_store.get_endpoint(conn, endpoint_id)
            if endpoint is None:
                return ReplayWebhookEventsPayload(queued=0, user_errors=[user_error(
                    ["input", "endpointId"], ErrorCode.NOT_FOUND, "no such webhook endpoint")])
            if endpoint.status != "ACTIVE":
                return ReplayWebhookEventsPayload(queued=0, user_errors=[user_error(
                    ["input", "endpointId"], ErrorCode.INVALID_VALUE,
                    "the endpoint is disabled: enable it first (updateWebhookEndpoint)")])
            extent = await event_log.extent(conn, tenant_id)
            after = 0
            if input.after is not None:
                position = cursor_position(input.after)
                if position is None or position > extent.last:
                    return ReplayWebhookEventsPayload(queued=0, user_errors=[user_error(
                        ["input", "after"], ErrorCode.INVALID_CURSOR,
                        "not a cursor of this tenant's event log")])
                if extent.expired(position):
                    return ReplayWebhookEventsPayload(queued=0, user_errors=[user_error(
                        ["input", "after"], ErrorCode.CURSOR_EXPIRED,
                        "events after this cursor were dropped by retention")])
                after = position
            queued = await webhook_store.replay(conn, tenant_id, endpoint_id, after)
        return ReplayWebhookEventsPayload(queued=queued, user_errors=[])
