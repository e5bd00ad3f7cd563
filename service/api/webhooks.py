"""Webhook endpoints through GraphQL (ADMIN): create (the signing secret is shown once),
update, delete, list, replay. Delivery itself is the worker's (service/delivery/webhooks.py)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from service.api.errors import ClientError, ErrorCode, UserError, from_problems
from service.api.nodes import decode_id
from service.api.permissions import RequireAdmin
from service.events.changes import EventKind
from service.infra.auth import Scope
from service.store import webhooks as webhook_store
from service.usecases import webhooks as hooks
from service.usecases.change import Change


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


def _kinds(kinds: list[EventKind] | None) -> list[str] | None:
    return None if kinds is None else [k.value for k in kinds]


def _endpoint(change: Change[webhook_store.Endpoint]) -> WebhookEndpointPayload:
    if change.value is None:
        return WebhookEndpointPayload(webhook_endpoint=None,
                                      user_errors=from_problems(change.problems, "input"))
    return WebhookEndpointPayload(webhook_endpoint=WebhookEndpoint.from_row(change.value),
                                  user_errors=[])


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Have this tenant's events POSTed to a URL; the answer holds the signing secret, "
        "once."))
    async def create_webhook_endpoint(
        self, info: strawberry.Info, input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointPayload:
        settings = info.context.settings
        async with info.context.work(info) as work:
            change = await hooks.create_endpoint(
                work, url=input.url, kinds=_kinds(input.kinds) or [],
                description=input.description, allowed=settings.allowed_hosts,
                box=settings.secrets)
        if change.value is None:
            return CreateWebhookEndpointPayload(
                webhook_endpoint=None, signing_secret=None,
                user_errors=from_problems(change.problems, "input"))
        return CreateWebhookEndpointPayload(
            webhook_endpoint=WebhookEndpoint.from_row(change.value.endpoint),
            signing_secret=change.value.signing_secret, user_errors=[])

    @strawberry.mutation(permission_classes=[RequireAdmin])
    async def update_webhook_endpoint(
        self, info: strawberry.Info, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        endpoint_id = decode_id(input.id, "WebhookEndpoint", ["input", "id"])
        async with info.context.work(info) as work:
            return _endpoint(await hooks.update_endpoint(
                work, endpoint_id, url=input.url, kinds=_kinds(input.kinds),
                description=input.description,
                active=None if input.status is None else input.status.value == "ACTIVE",
                allowed=info.context.settings.allowed_hosts))

    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Stop delivering to the endpoint; deliveries not yet made are dropped."))
    async def delete_webhook_endpoint(
        self, info: strawberry.Info, input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointPayload:
        endpoint_id = decode_id(input.id, "WebhookEndpoint", ["input", "id"])
        async with info.context.work(info) as work:
            change = await hooks.delete_endpoint(work, endpoint_id)
        if change.value is None:
            return DeleteWebhookEndpointPayload(
                deleted_webhook_endpoint_id=None,
                user_errors=from_problems(change.problems, "input"))
        return DeleteWebhookEndpointPayload(deleted_webhook_endpoint_id=input.id,
                                            user_errors=[])

    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Deliver the endpoint's events after a cursor again, e.g. after it was disabled or "
        "its receiver lost data. The endpoint must be ACTIVE."))
    async def replay_webhook_events(
        self, info: strawberry.Info, input: ReplayWebhookEventsInput
    ) -> ReplayWebhookEventsPayload:
        endpoint_id = decode_id(input.endpoint_id, "WebhookEndpoint", ["input", "endpointId"])
        async with info.context.work(info) as work:
            change = await hooks.replay_events(work, endpoint_id, input.after)
        if change.value is None:
            return ReplayWebhookEventsPayload(queued=0,
                                              user_errors=from_problems(change.problems,
                                                                        "input"))
        return ReplayWebhookEventsPayload(queued=change.value, user_errors=[])
