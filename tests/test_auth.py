"""Authentication by API key and authorisation by scope."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
from strawberry import relay

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import CREATE_KEY, REVOKE_KEY, GraphQLClient, TenantKeys, app_with

VIEWER = "{ viewer { tenant { id name } scopes } }"


async def test_no_key_is_401_with_a_json_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": VIEWER})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_bad_key_is_401(gql: GraphQLClient) -> None:
    response = await gql.raw(VIEWER, key="bgk_not-a-real-key")
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_non_bearer_scheme_is_401(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    response = await client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Basic {tenant.read}"}
    )
    assert response.status_code == 401


async def test_viewer_answers_with_the_key_tenant_and_scopes(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    data = await gql.data(VIEWER, key=tenant.read)
    assert data["viewer"]["tenant"]["name"] == tenant.name
    assert data["viewer"]["scopes"] == ["READ"]
    admin = await gql.data(VIEWER, key=tenant.admin)
    assert admin["viewer"]["scopes"] == ["ADMIN"]


async def test_a_read_key_calling_a_mutation_is_forbidden(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    body = await gql(CREATE_KEY, {"input": {"name": "x", "scopes": ["READ"]}}, key=tenant.read)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_write_key_cannot_manage_keys(gql: GraphQLClient, tenant: TenantKeys) -> None:
    body = await gql(CREATE_KEY, {"input": {"name": "x", "scopes": ["READ"]}}, key=tenant.write)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql("{ apiKeys { totalCount } }", key=tenant.write)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_admin_creates_a_key_that_works_until_revoked(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    created = (await gql.data(
        CREATE_KEY, {"input": {"name": "partner", "scopes": ["READ", "WRITE"]}}, key=tenant.admin
    ))["createApiKey"]
    assert created["userErrors"] == []
    secret = created["secret"]
    assert secret.startswith(created["apiKey"]["prefix"])
    assert created["apiKey"]["scopes"] == ["READ", "WRITE"]
    viewer = await gql.data(VIEWER, key=secret)
    assert viewer["viewer"]["scopes"] == ["READ", "WRITE"]

    revoked = (await gql.data(REVOKE_KEY, {"id": created["apiKey"]["id"]}, key=tenant.admin))
    assert revoked["revokeApiKey"]["apiKey"]["isRevoked"] is True
    response = await gql.raw(VIEWER, key=secret)
    assert response.status_code == 401


async def test_create_key_input_errors_are_user_errors(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    payload = (await gql.data(
        CREATE_KEY, {"input": {"name": "  ", "scopes": []}}, key=tenant.admin
    ))["createApiKey"]
    assert payload["apiKey"] is None and payload["secret"] is None
    assert {(tuple(e["field"]), e["code"]) for e in payload["userErrors"]} == {
        (("input", "name"), "REQUIRED"),
        (("input", "scopes"), "REQUIRED"),
    }


async def test_another_tenants_key_cannot_be_revoked(
    gql: GraphQLClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    other_keys = await gql.data("{ apiKeys { nodes { id } } }", key=other_tenant.admin)
    victim = other_keys["apiKeys"]["nodes"][0]["id"]
    payload = (await gql.data(REVOKE_KEY, {"id": victim}, key=tenant.admin))["revokeApiKey"]
    assert payload["apiKey"] is None
    assert payload["userErrors"] == [{"code": "NOT_FOUND"}]
    still = await gql.data("{ apiKeys { nodes { id isRevoked } } }", key=other_tenant.admin)
    assert not any(k["isRevoked"] for k in still["apiKeys"]["nodes"])


async def test_every_mutation_checks_a_scope() -> None:
    from service.api.permissions import RequireAdmin, RequireWrite
    from service.api.schema import Mutation

    definition = Mutation.__strawberry_definition__  # type: ignore[attr-defined]
    for field in definition.fields:
        kinds = {type(p) if not isinstance(p, type) else p for p in field.permission_classes}
        assert kinds & {RequireAdmin, RequireWrite}, f"{field.name} has no scope check"


async def test_a_keys_last_use_is_written_at_most_once_a_minute(
    gql: GraphQLClient, tenant: TenantKeys, db: Database
) -> None:
    async def last_used() -> Any:
        async with db.as_login() as conn:
            return await conn.fetchval("SELECT last_used_at FROM api_keys WHERE tenant_id = $1 "
                                       "AND 'READ' = ANY(scopes)", tenant.id)

    async def set_last_used(ago: timedelta) -> Any:
        async with db.as_login() as conn:
            return await conn.fetchval(
                "UPDATE api_keys SET last_used_at = now() - $2::interval WHERE tenant_id = $1 "
                "AND 'READ' = ANY(scopes) RETURNING last_used_at", tenant.id, ago)

    await gql.data(VIEWER, key=tenant.read)
    first = await last_used()
    assert first is not None
    recent = await set_last_used(timedelta(seconds=30))
    for _ in range(3):
        await gql.data(VIEWER, key=tenant.read)
    assert await last_used() == recent  # read, not written
    stale = await set_last_used(timedelta(minutes=2))
    await gql.data(VIEWER, key=tenant.read)
    assert await last_used() > stale


async def test_an_authentication_is_reused_briefly_and_a_revocation_here_ends_it_at_once(
    settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    async with app_with(settings, auth_cache_seconds=0.5) as client:
        gql = GraphQLClient(client)
        created = (await gql.data(CREATE_KEY, {"input": {"name": "brief", "scopes": ["READ"]}},
                                  key=tenant.admin))["createApiKey"]
        await gql.data(VIEWER, key=created["secret"])
        # Revoked behind this process's back: the reused authentication still answers ...
        async with db.as_login() as conn:
            await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1",
                               UUID(relay.GlobalID.from_id(created["apiKey"]["id"]).node_id))
        assert (await gql.raw(VIEWER, key=created["secret"])).status_code == 200
        # ... for AUTH_CACHE_SECONDS at most.
        await asyncio.sleep(0.6)
        assert (await gql.raw(VIEWER, key=created["secret"])).status_code == 401
        # Revoked through this process: refused at once.
        other = (await gql.data(CREATE_KEY, {"input": {"name": "other", "scopes": ["READ"]}},
                                key=tenant.admin))["createApiKey"]
        await gql.data(VIEWER, key=other["secret"])
        await gql.data(REVOKE_KEY, {"id": other["apiKey"]["id"]}, key=tenant.admin)
        assert (await gql.raw(VIEWER, key=other["secret"])).status_code == 401
