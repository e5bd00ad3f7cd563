"""Webhooks an integrator can debug: each delivery with every attempt (status, time, the answer's
first bytes), redelivery of one, a signed test event on request."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    GraphQLClient,
    TenantKeys,
    app_with,
    commit_events,
    create_endpoint,
    database_env,
    deliver_due,
    receiver,
    relayed,
)

DELIVERIES = """query($endpoint: ID!, $filter: WebhookDeliveryFilter) {
  webhookDeliveries(endpointId: $endpoint, filter: $filter, first: 10) {
    totalCount nodes { id state attempts nextAttemptAt deliveredAt lastStatusCode lastError
      event { kind newValue }
      attemptLog { at statusCode durationMs responseHead error } } } }"""
REDELIVER = """mutation($id: String!) { redeliverWebhookEvent(input: {deliveryId: $id}) {
  delivery { id state attempts } userErrors { field code } } }"""
PING = """mutation($id: ID!) { pingWebhookEndpoint(input: {id: $id}) {
  attempt { statusCode durationMs responseHead error } userErrors { field code } } }"""


def own(settings: Settings) -> Settings:
    """Retries at once; loopback receivers allowed as `make run` allows them (not through
    the operator's list, whose hosts' answers are not shown)."""
    return settings.model_copy(update={"webhook_retry_seconds": "0,0,0",
                                       "outbound_allowed_hosts": "",
                                       "outbound_allow_loopback": True})


async def test_a_failing_delivery_shows_each_attempt_and_can_be_sent_again(
    db: Database, redis: Any, settings: Settings, tenant: TenantKeys
) -> None:
    mine = own(settings)
    async with app_with(mine) as http, receiver() as partner:
        gql = GraphQLClient(http)
        endpoint, _ = await create_endpoint(gql, tenant, partner.url)
        partner.plan, partner.answer = [500], b"boom: the database is down"
        await commit_events(db, tenant.id, ["open"])
        await relayed(db, redis, mine, tenant)
        await deliver_due(db, mine)
        page = (await gql.data(DELIVERIES, {"endpoint": endpoint},
                               key=tenant.admin))["webhookDeliveries"]
        (delivery,) = page["nodes"]
        assert delivery["state"] == "DELIVERED" and delivery["attempts"] == 2
        assert delivery["event"] == {"kind": "STATUS_CHANGED", "newValue": "open"}
        first, second = delivery["attemptLog"]
        assert (first["statusCode"], first["responseHead"], first["error"]) == \
            (500, "boom: the database is down", "the endpoint answered HTTP 500")
        assert second["statusCode"] == 200 and second["error"] is None
        assert first["durationMs"] >= 0 and first["at"] <= second["at"]
        webhook_id = partner.received[0][0]["webhook-id"]
        assert delivery["id"] == webhook_id
        failed = await gql.data(DELIVERIES, {"endpoint": endpoint, "filter": {
            "states": ["ABANDONED", "RETRYING"]}}, key=tenant.admin)
        assert failed["webhookDeliveries"]["totalCount"] == 0

        # Sent again on request, under the same webhook-id.
        again = (await gql.data(REDELIVER, {"id": webhook_id},
                                key=tenant.admin))["redeliverWebhookEvent"]
        assert again["delivery"] == {"id": webhook_id, "state": "PENDING", "attempts": 0}
        await deliver_due(db, mine)
        assert [h["webhook-id"] for h, _ in partner.received] == [webhook_id] * 3
        log = (await gql.data(DELIVERIES, {"endpoint": endpoint}, key=tenant.admin))[
            "webhookDeliveries"]["nodes"][0]["attemptLog"]
        assert [a["statusCode"] for a in log] == [500, 200, 200]
        # Unknown ids, and deliveries to a disabled endpoint, are refused.
        unknown = (await gql.data(REDELIVER, {"id": "msg_nope"},
                                  key=tenant.admin))["redeliverWebhookEvent"]
        assert unknown["userErrors"] == [{"field": ["input", "deliveryId"],
                                          "code": "NOT_FOUND"}]
        await gql.data("""mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id,
          status: DISABLED}) { userErrors { code } } }""", {"id": endpoint}, key=tenant.admin)
        disabled = (await gql.data(REDELIVER, {"id": webhook_id},
                                   key=tenant.admin))["redeliverWebhookEvent"]
        assert disabled["userErrors"][0]["code"] == "INVALID_VALUE"
        forbidden = await gql(DELIVERIES, {"endpoint": endpoint}, key=tenant.read)
        assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_ping_is_a_signed_test_event_and_says_how_it_went(
    settings: Settings, tenant: TenantKeys
) -> None:
    async with app_with(own(settings)) as http, receiver() as partner:
        gql = GraphQLClient(http)
        endpoint, secret = await create_endpoint(gql, tenant, partner.url)
        partner.answer = b"pong"
        done = (await gql.data(PING, {"id": endpoint}, key=tenant.admin))["pingWebhookEndpoint"]
        assert done["userErrors"] == []
        assert done["attempt"]["statusCode"] == 200 and done["attempt"]["responseHead"] == "pong"
        ((headers, body),) = partner.received
        verified = Webhook(secret).verify(body, headers)
        assert verified["type"] == "webhook.ping"
        assert verified["data"]["endpointId"] == endpoint
        assert headers["webhook-id"].startswith("ping_")
        partner.plan = [418]
        teapot = (await gql.data(PING, {"id": endpoint}, key=tenant.admin))[
            "pingWebhookEndpoint"]["attempt"]
        assert (teapot["statusCode"], teapot["error"]) == (418, "the endpoint answered HTTP 418")
        unknown = "V2ViaG9va0VuZHBvaW50OjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="
        missing = (await gql.data(PING, {"id": unknown}, key=tenant.admin))[
            "pingWebhookEndpoint"]
        assert missing["userErrors"] == [{"field": ["input", "id"], "code": "NOT_FOUND"}]
        refused = await gql(PING, {"id": endpoint}, key=tenant.write)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_operator_listed_hosts_answers_are_not_shown(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    """127.0.0.1 is on the suite's OUTBOUND_ALLOWED_HOSTS: an internal service's answer is not
    the tenant's to read."""
    async with receiver() as partner:
        endpoint, _ = await create_endpoint(gql, tenant, partner.url)
        partner.answer = b"internal secrets"
        attempt = (await gql.data(PING, {"id": endpoint}, key=tenant.admin))[
            "pingWebhookEndpoint"]["attempt"]
    assert attempt["statusCode"] == 200 and attempt["responseHead"] is None


async def test_webhooks_listen_verifies_prints_and_forwards_then_cleans_up(
    gql: GraphQLClient, db: Database, redis: Any, settings: Settings, tenant: TenantKeys
) -> None:
    mine = own(settings)
    env = {**os.environ, **database_env(settings),
           "REDIS_URL": str(settings.redis_url), "SECRET_KEY": str(settings.secret_key),
           "LOG_LEVEL": "WARNING"}
    async with receiver() as partner:
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service.cli", "webhooks", "listen", "--forward-to",
            partner.url, "--tenant", str(tenant.id), "--json", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            assert cli.stdout is not None
            started = json.loads(await asyncio.wait_for(cli.stdout.readline(), 60))
            endpoints = (await gql.data("{ webhookEndpoints { id description } }",
                                        key=tenant.admin))["webhookEndpoints"]
            assert [e["description"] for e in endpoints] == \
                ["buying-groups webhooks listen (temporary)"]
            await commit_events(db, tenant.id, ["open"])
            await relayed(db, redis, mine, tenant)
            await deliver_due(db, mine)
            printed = (await asyncio.wait_for(cli.stdout.readline(), 30)).decode()
            assert "STATUS_CHANGED" in printed and "-> 200" in printed
            ((headers, body),) = partner.received
            assert headers["webhook-id"] in printed
            assert json.loads(body)["data"]["newValue"] == "open"
            # A request that is not signed with the endpoint's secret is refused, not forwarded.
            async with httpx.AsyncClient() as http:
                forged = await http.post(started["receiver"], content=b'{"type": "x"}',
                                         headers={"webhook-id": "msg_x",
                                                  "webhook-timestamp": "1",
                                                  "webhook-signature": "v1,AAAA"})
            assert forged.status_code == 400 and len(partner.received) == 1
        finally:
            cli.send_signal(signal.SIGINT)
            await asyncio.wait_for(cli.wait(), 30)
    assert cli.returncode == 0
    left = (await gql.data("{ webhookEndpoints { id } }", key=tenant.admin))["webhookEndpoints"]
    assert left == []


async def test_an_attempt_keeps_the_first_kibibyte_of_the_answer(
    settings: Settings, tenant: TenantKeys
) -> None:
    async with app_with(own(settings)) as http, receiver() as partner:
        gql = GraphQLClient(http)
        endpoint, _ = await create_endpoint(gql, tenant, partner.url)
        partner.answer = b"x" * 5000
        attempt = (await gql.data(PING, {"id": endpoint}, key=tenant.admin))[
            "pingWebhookEndpoint"]["attempt"]
    assert attempt["responseHead"] == "x" * 1024
