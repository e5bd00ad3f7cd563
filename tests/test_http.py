"""The HTTP surface: health endpoints, metrics, GraphiQL, malformed bodies, masked errors."""

from __future__ import annotations

import contextlib
import gc
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.infra.config import Settings
from service.infra.db import APP_ROLE, SYSTEM_ROLE, Database
from service.store import activity_sync as sync_store
from service.store import event_log
from service.store import webhooks as webhook_store
from tests.support import GraphQLClient, TenantKeys, generate, setup_catalogue


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_checks_database_migrations_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "redis": "ok"},
    }


async def test_metrics_count_graphql_operations_by_name(
    client: httpx.AsyncClient, gql: GraphQLClient, tenant: TenantKeys
) -> None:
    await gql.data("query Viewer { viewer { scopes } }", key=tenant.read)
    # A client's own operation name may name a customer: it is no label.
    await gql.data("query DealsOfAcmeCorp { viewer { scopes } }", key=tenant.read)
    text = (await client.get("/metrics")).text
    assert 'bg_graphql_operations_total{operation="Viewer",outcome="ok",type="query"}' in text
    assert 'bg_graphql_operation_seconds_count{operation="Viewer",type="query"}' in text
    assert 'bg_graphql_operations_total{operation="other",outcome="ok",type="query"}' in text
    assert "Acme" not in text and tenant.name not in text
    assert "bg_http_requests_total" in text


def gauge(text: str, name: str) -> float:
    return float(next(line.split()[-1] for line in text.splitlines()
                      if line.startswith(name + " ") or line.startswith(name + "{")))


async def test_metrics_report_activity_syncs_across_tenants(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    before = (await client.get("/metrics")).text
    async with db.tenant(tenant.id) as conn:
        await sync_store.save_cursor(conn, tenant.id, "1,2", "token", 5)
        await sync_store.record_sync(conn, tenant.id, error="606 gave up", cursor_at=None)
    after = (await client.get("/metrics")).text
    assert gauge(after, "bg_activities_ingested") == gauge(before, "bg_activities_ingested") + 5
    failing = 'bg_activity_sync_tenants{outcome="failing"}'
    assert gauge(after, failing) == gauge(before, failing) + 1
    assert gauge(after, "bg_activity_sync_oldest_success_age_seconds") >= 0


async def test_metrics_report_the_relays_lag_and_the_webhook_backlog(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    """Read by the system role across tenants. One repeatable-read transaction, rolled back:
    what other tests commit meanwhile does not move the figures between the two reads."""
    async with db.pool.acquire() as conn:
        with contextlib.suppress(Rollback):
            async with conn.transaction(isolation="repeatable_read"):
                await conn.execute(f"SET LOCAL ROLE {SYSTEM_ROLE}")
                lag, backlog = await event_log.relay_lag(conn), await webhook_store.backlog(conn)
                await conn.execute(f"SET LOCAL ROLE {APP_ROLE}")
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
                hour_ago = datetime.now(UTC) - timedelta(hours=1)
                await event_log.append(conn, tenant.id, [
                    {"kind": "CREATED", "buying_group_id": str(uuid.uuid4()),
                     "occurred_at": (hour_ago + timedelta(minutes=i)).isoformat()}
                    for i in range(3)])
                await conn.execute("INSERT INTO event_relay VALUES ($1, 1)", tenant.id)  # 2 wait
                endpoint = await conn.fetchval(
                    "INSERT INTO webhook_endpoints (tenant_id, url, signing_secret) "
                    "VALUES ($1, 'https://hooks.example/in', 'sealed') RETURNING id", tenant.id)
                await conn.execute(
                    "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, position, id, "
                    "created_at, abandoned_at) VALUES "
                    "($1, $2, 1, 'msg_1', now() - interval '2 hours', NULL), "
                    "($1, $2, 2, 'msg_2', now(), now()), ($1, $2, 3, 'msg_3', now(), NULL)",
                    tenant.id, endpoint)
                await conn.execute(f"SET LOCAL ROLE {SYSTEM_ROLE}")
                lag_after = await event_log.relay_lag(conn)
                backlog_after = await webhook_store.backlog(conn)
                assert lag_after.events == lag.events + 2
                # Position 2 waits, 59 minutes old.
                assert lag_after.oldest_seconds is not None and lag_after.oldest_seconds > 3500
                assert backlog_after.pending == backlog.pending + 2
                assert backlog_after.abandoned == backlog.abandoned + 1
                assert backlog_after.oldest_pending_seconds is not None
                assert backlog_after.oldest_pending_seconds >= 7200
                raise Rollback
    text = (await client.get("/metrics")).text
    for name in ("bg_event_relay_lag_events", "bg_event_relay_oldest_unpublished_age_seconds",
                 "bg_webhook_deliveries_pending", "bg_webhook_oldest_pending_age_seconds",
                 "bg_webhook_deliveries_abandoned"):
        assert gauge(text, name) >= 0, name


class Rollback(Exception):
    pass


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["x-request-id"] == "abc123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 32


async def test_graphiql_is_served_on_get_without_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
    # Its scripts come from the service itself, and only they (and its own inline one) run.
    assert "https://" not in response.text and "http://" not in response.text
    assert 'src="static/graphiql.min.js"' in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in policy and "unsafe-eval" not in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in response.text
    # A Host header cannot smuggle a directive into the policy.
    hostile = await client.get("/graphql", headers={"Accept": "text/html",
                                                    "Host": "x; script-src *"})
    assert "script-src *" not in hostile.headers["content-security-policy"]
    assert "connect-src 'self' ws://localhost" in hostile.headers["content-security-policy"]
    for asset in ("graphiql.min.js", "graphiql-plugin-explorer.umd.js", "react.production.min.js"):
        served = await client.get(f"/static/{asset}")
        assert served.status_code == 200 and len(served.content) > 1000, asset


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2", "application/json"),
        (b'{"variables": {}}', "application/json"),
        (b'"just a string"', "application/json"),
    ],
)
async def test_malformed_bodies_get_400(
    client: httpx.AsyncClient, tenant: TenantKeys, body: bytes, content_type: str
) -> None:
    response = await client.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {tenant.read}", "Content-Type": content_type},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"]


async def test_a_syntax_error_is_a_clear_graphql_error(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    response = await gql.raw("{ viewer { ", key=tenant.read)
    assert response.status_code in (200, 400)
    assert "Syntax Error" in response.json()["errors"][0]["message"]


async def test_unexpected_exceptions_are_masked_and_logged_with_the_request_id(
    gql: GraphQLClient, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from service.store import tenants

    async def broken(*args: object) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(tenants, "get_tenant", broken)
    response = await gql.http.post(
        "/graphql",
        json={"query": "{ viewer { tenant { name } } }"},
        headers={"Authorization": f"Bearer {tenant.read}", "X-Request-ID": "req-42"},
    )
    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "req-42" in error["message"]
    assert any("req-42" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_what_lives_from_start_up_is_kept_out_of_the_collectors_sight(
    settings: Settings
) -> None:
    """GC_FREEZE: the objects alive once the app has started (modules, the schema, clients)
    are frozen, so that collections during requests do not walk them; shutdown thaws them."""
    gc.unfreeze()
    async with LifespanManager(create_app(settings)):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
    async with LifespanManager(create_app(settings.model_copy(update={"gc_freeze": False}))):
        assert gc.get_freeze_count() == 0


async def test_the_youngest_generation_is_collected_less_often(settings: Settings) -> None:
    """GC_THRESHOLD: while the app runs, the youngest generation is collected after 10,000
    allocations, not Python's 700; shutdown puts back what was there, and 0 keeps it."""
    running = gc.get_threshold()  # another app of the session may have set its own
    before = (700, 10, 10)
    gc.set_threshold(*before)
    try:
        async with LifespanManager(create_app(settings)):
            assert gc.get_threshold() == (10_000, 10, 10)
        assert gc.get_threshold() == before
        async with LifespanManager(create_app(settings.model_copy(update={"gc_threshold": 0}))):
            assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*running)


PAGES = """query { people(first: 20) { totalCount nodes { id fullName account { name }
  buyingGroupMemberships { role { name } buyingGroup { name completeness { value } } }
  activities(first: 5) { totalCount nodes { activityDate } } } }
  accounts(first: 10) { nodes { name people(first: 5) { nodes { fullName } }
  buyingGroups { name engagement { value } } } } }"""


async def test_what_a_request_loaded_goes_with_it_not_with_the_cycle_collector(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    """A request's context, loaders, executor and every row it loaded are freed by reference
    counting when it ends. Were they a reference cycle (context and loaders, the executor and
    its helpers), each request would leave thousands of objects for the cycle collector,
    whose collections then cost about 1 ms a request (#21)."""
    cat = await setup_catalogue(gql, tenant.write)
    assert (await generate(gql, settings, tenant.write, cat["si"], cat["list"]))["status"] == \
        "SUCCEEDED"
    people = (await gql.data(PAGES, key=tenant.read))["people"]["nodes"]
    assert len(people) > 5 and any(p["buyingGroupMemberships"] for p in people)
    requests, rounds = 4, []
    # The least of three rounds: a round may also catch a first use of something else (a
    # pooled connection's first statement, say) that is garbage of its own.
    for _ in range(3):
        gc.collect()
        gc.disable()
        try:
            for _ in range(requests):
                await gql.data(PAGES, key=tenant.read)
            rounds.append(gc.collect())
        finally:
            gc.enable()
    # What is left is the HTTP client's (a response and its stream refer to each other).
    assert min(rounds) / requests < 60, rounds


async def test_metrics_ask_for_the_token_when_one_is_set(settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": "s3cret-metrics"})
    async with LifespanManager(create_app(guarded)) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        right = await client.get("/metrics",
                                 headers={"Authorization": "Bearer s3cret-metrics"})
        assert right.status_code == 200 and "bg_http_requests_total" in right.text
        assert (await client.get("/healthz")).status_code == 200  # the rest is unchanged
