"""Debugging webhooks through GraphQL (ADMIN): an endpoint's deliveries with every attempt,
redelivery of one, and a signed test event sent on request."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime

import strawberry
from strawberry import relay

from service.api.errors import ClientError, ErrorCode, UserError, from_problems, user_error
from service.api.nodes import decode_id
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.api.permissions import RequireAdmin
from service.api.subscriptions import BuyingGroupEvent
from service.delivery.webhooks import post_signed, webhook_client
from service.events.changes import ping_body
from service.infra.auth import Scope
from service.infra.secrets import SecretsUnavailable
from service.store import event_log, webhook_log
from service.usecases import webhooks as hooks


@strawberry.enum(description=(
    "PENDING: not tried yet; RETRYING: failed, tried again at nextAttemptAt; DELIVERED: the "
    "endpoint answered 2xx; ABANDONED: the retries ran out, or the endpoint was disabled."))
class WebhookDeliveryState(enum.Enum):
    PENDING = "PENDING"
    RETRYING = "RETRYING"
    DELIVERED = "DELIVERED"
    ABANDONED = "ABANDONED"


@strawberry.type(description="One POST of an event to an endpoint.")
class WebhookAttempt:
    at: datetime
    status_code: int | None = strawberry.field(description="Null: no answer (see error).")
    duration_ms: int | None
    response_head: str | None = strawberry.field(description=(
        "The first 1 KiB of the answer's body (not kept for hosts the operator listed in "
        "OUTBOUND_ALLOWED_HOSTS)."))
    error: str | None = strawberry.field(description="Null: the endpoint took the event.")

    @classmethod
    def of(cls, row: webhook_log.Attempt) -> WebhookAttempt:
        return cls(at=row.at, status_code=row.status, duration_ms=row.duration_ms,
                   response_head=row.response_head, error=row.error)


def _state(row: webhook_log.Delivery) -> WebhookDeliveryState:
    if row.delivered_at is not None:
        return WebhookDeliveryState.DELIVERED
    if row.abandoned_at is not None:
        return WebhookDeliveryState.ABANDONED
    return WebhookDeliveryState.RETRYING if row.attempts else WebhookDeliveryState.PENDING


@strawberry.type(description="An event's delivery to an endpoint, with each attempt.")
class WebhookDelivery:
    id: str = strawberry.field(description=(
        "The `webhook-id` header of its requests (the same on every attempt): give it to "
        "redeliverWebhookEvent."))
    state: WebhookDeliveryState
    attempts: int = strawberry.field(description="Attempts since it was (re)queued.")
    next_attempt_at: datetime | None = strawberry.field(description="PENDING or RETRYING.")
    delivered_at: datetime | None
    abandoned_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    row: strawberry.Private[webhook_log.Delivery]

    @strawberry.field(description="The event it delivers.")
    async def event(self, info: strawberry.Info) -> BuyingGroupEvent | None:
        row = await info.context.loaders.event.load(self.row.position)
        return BuyingGroupEvent.of(event_log.payload(row)) if row else None

    @strawberry.field(description="Every attempt, oldest first (at most the last 50).")
    async def attempt_log(self, info: strawberry.Info) -> list[WebhookAttempt]:
        found = await info.context.loaders.webhook_attempts.load(
            (self.row.endpoint_id, self.row.position))
        return [WebhookAttempt.of(a) for a in found[-50:]]

    @classmethod
    def of(cls, row: webhook_log.Delivery) -> WebhookDelivery:
        state = _state(row)
        waiting = state in (WebhookDeliveryState.PENDING, WebhookDeliveryState.RETRYING)
        return cls(id=row.id, state=state, attempts=row.attempts,
                   next_attempt_at=row.next_attempt_at if waiting else None,
                   delivered_at=row.delivered_at, abandoned_at=row.abandoned_at,
                   last_status_code=row.last_status, last_error=row.last_error,
                   created_at=row.created_at, row=row)


@strawberry.input
class WebhookDeliveryFilter:
    states: list[WebhookDeliveryState] | None = strawberry.field(
        default=None, description="Only deliveries in these states.")


def _position(raw: list[object]) -> int:
    (position,) = raw
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise ValueError("not a delivery's cursor")
    return position


async def webhook_deliveries(info: strawberry.Info, endpoint_id: relay.GlobalID,
                             filter: WebhookDeliveryFilter | None = None, first: int = 20,
                             after: str | None = None) -> Connection[WebhookDelivery]:
    context = info.context
    if not context.allows(Scope.ADMIN):
        raise ClientError("Webhook deliveries need the ADMIN scope.", ErrorCode.FORBIDDEN)
    endpoint = decode_id(endpoint_id, "WebhookEndpoint", ["endpointId"])
    limit = check_first(first, context.settings.max_page_size)
    cursor = decode_cursor(after, _position)
    states = [s.value for s in (filter.states or [])] if filter else []
    async with context.read() as conn:
        page = await webhook_log.deliveries(conn, context.tenant_principal.tenant_id,
                                            endpoint, states=states, limit=limit,
                                            after=cursor)
    return to_connection(page, WebhookDelivery.of, lambda d: (d.position,),
                         has_previous=cursor is not None)


@strawberry.input
class RedeliverWebhookEventInput:
    delivery_id: str = strawberry.field(description="A delivery's id (its `webhook-id`).")


@strawberry.type
class RedeliverWebhookEventPayload:
    delivery: WebhookDelivery | None
    user_errors: list[UserError]


@strawberry.input
class PingWebhookEndpointInput:
    id: relay.GlobalID


@strawberry.type
class PingWebhookEndpointPayload:
    attempt: WebhookAttempt | None = strawberry.field(description="How the test event went.")
    user_errors: list[UserError]


@strawberry.type
class WebhookDebugMutations:
    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Send one delivery again now, under the same webhook-id, whatever became of it (a "
        "receiver that lost it, a fixed endpoint). The endpoint must be ACTIVE."))
    async def redeliver_webhook_event(self, info: strawberry.Info,
                                      input: RedeliverWebhookEventInput
                                      ) -> RedeliverWebhookEventPayload:
        async with info.context.work(info) as work:
            change = await hooks.redeliver(work, input.delivery_id[:200])
        if change.value is None:
            return RedeliverWebhookEventPayload(
                delivery=None, user_errors=from_problems(change.problems, "input"))
        return RedeliverWebhookEventPayload(delivery=WebhookDelivery.of(change.value),
                                            user_errors=[])

    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "POST a signed test event (type `webhook.ping`) to the endpoint now and answer how it "
        "went; it is no delivery and changes nothing."))
    async def ping_webhook_endpoint(self, info: strawberry.Info, input: PingWebhookEndpointInput
                                    ) -> PingWebhookEndpointPayload:
        endpoint_id = decode_id(input.id, "WebhookEndpoint", ["input", "id"])
        settings = info.context.settings
        async with info.context.read() as conn:
            found = await webhook_log.ping_target(conn, endpoint_id)
        if found is None:
            return PingWebhookEndpointPayload(attempt=None, user_errors=[user_error(
                ["input", "id"], ErrorCode.NOT_FOUND, "no such webhook endpoint")])
        url, sealed = found
        try:
            secret = settings.secrets.open(sealed)
        except SecretsUnavailable:
            return PingWebhookEndpointPayload(attempt=None, user_errors=[user_error(
                ["input", "id"], ErrorCode.SERVICE_UNAVAILABLE,
                "the signing secret cannot be read: SECRET_KEY changed")])
        now = datetime.now(UTC)
        async with webhook_client(settings) as client:
            outcome = await post_signed(client, settings, url, secret,
                                        "ping_" + secrets.token_hex(16),
                                        ping_body(endpoint_id, now.isoformat()))
        return PingWebhookEndpointPayload(attempt=WebhookAttempt(
            at=now, status_code=outcome.status, duration_ms=outcome.duration_ms,
            response_head=outcome.response_head, error=outcome.error), user_errors=[])
