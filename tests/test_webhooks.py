"""Webhooks (#20): endpoints through the API (ADMIN), deliveries signed the Standard Webhooks
way, retried under the same webhook-id, an endpoint disabled after failing for days, replay."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from service.delivery.webhooks import WebhookSender
from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    CREATE_WEBHOOK,
    GraphQLClient,
    TenantKeys,
    commit_events,
    create_endpoint,
    receiver,
    relayed,
)

UPDATE = """mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) {
  webhookEndpoint { id status disabledAt consecutiveFailures } userErrors { code } } }"""

DELETE = """mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) {
  deletedWebhookEndpointId userErrors { code } } }"""

REPLAY = """mutation($input: ReplayWebhookEventsInput!) { replayWebhookEvents(input: $input) {
  queued userErrors { field code } } }"""

ENDPOINTS = """{ webhookEndpoints { id url kinds status lastDeliveryAt lastError
  consecutiveFailures disabledAt } }"""


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Retries due at once, so one deliver_due() makes every attempt."""
    return settings.model_copy(update={"webhook_retry_seconds": "0,0,0"})


async def test_a_receiver_that_fails_twice_gets_the_same_event_a_third_time_validly_signed(
    gql: GraphQLClient, db: Database, redis: Any, quick: Settings, tenant: TenantKeys
) -> None:
    async with receiver() as partner:
        endpoint, secret = await create_endpoint(gql, tenant, partner.url)
        partner.plan = [500, 503]
        await commit_events(db, tenant.id, ["open"])
        await relayed(db, redis, quick, tenant)
        sender = WebhookSender(db, quick)
        try:
            assert await sender.deliver_due() == 3
            assert await sender.deliver_due() == 0  # delivered: once
        finally:
            await sender.stop()
    assert len(partner.received) == 3
    ids = {headers["webhook-id"] for headers, _ in partner.received}
    assert len(ids) == 1 and next(iter(ids)).startswith("msg_")
    for headers, body in partner.received:
        payload = Webhook(secret).verify(body, headers)  # raises on a bad signature
        assert payload["type"] == "buying_group.status_changed"
        assert payload["data"]["kind"] == "STATUS_CHANGED"
        assert payload["data"]["newValue"] == "open"
        assert payload["data"]["cursor"]
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43).verify(partner.received[0][1], partner.received[0][0])
    shown = (await gql.data(ENDPOINTS, key=tenant.admin))["webhookEndpoints"]
    assert [(e["id"], e["status"], e["consecutiveFailures"], e["lastError"]) for e in shown] \
        == [(endpoint, "ACTIVE", 0, None)]
    assert shown[0]["lastDeliveryAt"] is not None


async def test_an_endpoint_failing_for_three_days_is_disabled_and_sent_nothing_more(
    gql: GraphQLClient, db: Database, redis: Any, settings: Settings, tenant: TenantKeys
) -> None:
    async with receiver() as partner:
        endpoint, _ = await create_endpoint(gql, tenant, partner.url)
        partner.plan = [500] * 10
        await commit_events(db, tenant.id, ["one"])
        await relayed(db, redis, settings, tenant)
        sender = WebhookSender(db, settings)
        try:
            assert await sender.deliver_due() == 1  # the retry waits 5 s: not due yet
            shown = (await gql.data(ENDPOINTS, key=tenant.admin))["webhookEndpoints"][0]
            assert (shown["status"], shown["consecutiveFailures"]) == ("ACTIVE", 1)
            assert shown["lastError"] == "the endpoint answered HTTP 500"
            # It has been failing for three days by now.
            async with db.as_login() as conn:
                await conn.execute(
                    "UPDATE webhook_endpoints SET failing_since = now() - interval '73 hours' "
                    "WHERE tenant_id = $1", tenant.id)
                await conn.execute("UPDATE webhook_deliveries SET next_attempt_at = now() "
                                   "WHERE tenant_id = $1", tenant.id)
            assert await sender.deliver_due() == 1
            shown = (await gql.data(ENDPOINTS, key=tenant.admin))["webhookEndpoints"][0]
            assert shown["status"] == "DISABLED" and shown["disabledAt"] is not None
            # Later events are not queued for it; nothing is sent.
            await commit_events(db, tenant.id, ["two"])
            await relayed(db, redis, settings, tenant)
            assert await sender.deliver_due() == 0
            assert len(partner.received) == 2
            # Enabled again and replayed: what it missed arrives.
            partner.plan = []
            enabled = (await gql.data(UPDATE, {"input": {"id": endpoint, "status": "ACTIVE"}},
                                      key=tenant.admin))["updateWebhookEndpoint"]
            assert enabled["webhookEndpoint"]["status"] == "ACTIVE"
            assert enabled["webhookEndpoint"]["consecutiveFailures"] == 0
            replay = (await gql.data(REPLAY, {"input": {"endpointId": endpoint}},
                                     key=tenant.admin))["replayWebhookEvents"]
            assert replay == {"queued": 2, "userErrors": []}
            assert await sender.deliver_due() == 2
        finally:
            await sender.stop()
    values = [b for _, b in partner.received[2:]]
    assert [httpx.Response(200, content=b).json()["data"]["newValue"] for b in values] \
        == ["one", "two"]


async def test_replay_after_a_cursor_sends_those_events_again_under_their_webhook_ids(
    gql: GraphQLClient, db: Database, redis: Any, settings: Settings, tenant: TenantKeys
) -> None:
    async with receiver() as partner:
        endpoint, _ = await create_endpoint(gql, tenant, partner.url, kinds=["STATUS_CHANGED"])
        await commit_events(db, tenant.id, ["a", "b", "c"])
        await relayed(db, redis, settings, tenant)
        sender = WebhookSender(db, settings)
        try:
            assert await sender.deliver_due() == 3
            first = {httpx.Response(200, content=b).json()["data"]["newValue"]: (h, b)
                     for h, b in partner.received}
            cursor = httpx.Response(200, content=first["a"][1]).json()["data"]["cursor"]
            replay = (await gql.data(REPLAY, {"input": {"endpointId": endpoint,
                                                        "after": cursor}},
                                     key=tenant.admin))["replayWebhookEvents"]
            assert replay == {"queued": 2, "userErrors": []}
            assert await sender.deliver_due() == 2
        finally:
            await sender.stop()
    again = partner.received[3:]
    assert sorted(httpx.Response(200, content=b).json()["data"]["newValue"]
                  for _, b in again) == ["b", "c"]
    for headers, body in again:
        value = httpx.Response(200, content=body).json()["data"]["newValue"]
        assert headers["webhook-id"] == first[value][0]["webhook-id"]
    bad = (await gql.data(REPLAY, {"input": {"endpointId": endpoint, "after": "nonsense"}},
                          key=tenant.admin))["replayWebhookEvents"]
    assert bad["userErrors"] == [{"field": ["input", "after"], "code": "INVALID_CURSOR"}]


async def test_endpoints_only_deliver_the_kinds_they_ask_for(
    gql: GraphQLClient, db: Database, redis: Any, settings: Settings, tenant: TenantKeys
) -> None:
    async with receiver() as partner:
        await create_endpoint(gql, tenant, partner.url, kinds=["CREATED"])
        await commit_events(db, tenant.id, ["not for it"])
        await relayed(db, redis, settings, tenant)
        sender = WebhookSender(db, settings)
        try:
            assert await sender.deliver_due() == 0
        finally:
            await sender.stop()
    assert partner.received == []


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data", "http://localhost:1/x",
    "http://[::1]:8080/", "file:///etc/passwd", "http://user:pw@example.com/",
])
async def test_an_endpoint_must_be_a_public_address_unless_the_operator_allows_it(
    gql: GraphQLClient, tenant: TenantKeys, url: str
) -> None:
    done = (await gql.data(CREATE_WEBHOOK, {"input": {"url": url}},
                           key=tenant.admin))["createWebhookEndpoint"]
    assert done["webhookEndpoint"] is None and done["signingSecret"] is None
    assert done["userErrors"][0]["field"] == ["input", "url"]
    assert done["userErrors"][0]["code"] in ("ADDRESS_NOT_ALLOWED", "INVALID_VALUE")


async def test_webhooks_are_for_admin_keys_and_their_secret_is_never_stored_in_clear(
    gql: GraphQLClient, db: Database, tenant: TenantKeys
) -> None:
    body = await gql(CREATE_WEBHOOK, {"input": {"url": "http://127.0.0.1:9/x"}}, key=tenant.write)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(ENDPOINTS, key=tenant.write)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    endpoint, secret = await create_endpoint(gql, tenant, "http://127.0.0.1:9/x")
    async with db.as_login() as conn:
        stored = await conn.fetchval("SELECT signing_secret FROM webhook_endpoints "
                                     "WHERE tenant_id = $1", tenant.id)
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    deleted = (await gql.data(DELETE, {"id": endpoint}, key=tenant.admin))
    assert deleted["deleteWebhookEndpoint"]["deletedWebhookEndpointId"] == endpoint
    assert (await gql.data(ENDPOINTS, key=tenant.admin))["webhookEndpoints"] == []
