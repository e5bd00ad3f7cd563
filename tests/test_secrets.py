"""Secrets at rest are encrypted under SECRET_KEY, readable with the keys listed, and rotated
by `buying-groups secrets rotate`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from service.infra.config import Settings
from service.infra.db import Database
from service.infra.secrets import PREFIX, SecretBox, SecretsUnavailable, new_key
from tests.support import (
    GraphQLClient,
    TenantKeys,
    app_with,
    create_endpoint,
    database_env,
    source_with_visits,
    sync,
)


def test_sealed_secrets_open_with_listed_keys_only() -> None:
    old, new = new_key(), new_key()
    sealed = SecretBox(old).seal("s3cret")
    assert sealed.startswith(PREFIX) and "s3cret" not in sealed
    assert SecretBox(old).open(sealed) == "s3cret"
    assert SecretBox(new, previous=old).open(sealed) == "s3cret"
    resealed = SecretBox(new, previous=old).reseal(sealed)
    assert resealed != sealed and SecretBox(new).open(resealed) == "s3cret"
    with pytest.raises(SecretsUnavailable, match="neither SECRET_KEY"):
        SecretBox(new).open(sealed)
    with pytest.raises(SecretsUnavailable, match="not set"):
        SecretBox(None).seal("x")
    with pytest.raises(SecretsUnavailable, match="malformed"):
        SecretBox("not a key")
    assert SecretBox(new).open("from-before") == "from-before"  # stored before encryption


async def stored_secret(db: Database, tenant: TenantKeys) -> str:
    async with db.tenant(tenant.id) as conn:
        value: str = await conn.fetchval("SELECT client_secret FROM activity_sources")
        return value


async def test_a_stored_secret_is_encrypted_and_rotates(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, db: Database
) -> None:
    await source_with_visits(gql, tenant, simulator, 5, day=-1, leads=1)
    stored = await stored_secret(db, tenant)
    assert stored.startswith(PREFIX) and "demo-secret" not in stored
    assert (await sync(gql, settings, tenant.write))["status"] == "SUCCEEDED"
    _, signing_secret = await create_endpoint(gql, tenant, "http://127.0.0.1:9/hook")
    async with db.tenant(tenant.id) as conn:
        sealed_signing = await conn.fetchval("SELECT signing_secret FROM webhook_endpoints")
    new = new_key()
    rotated = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "service.cli", "secrets", "rotate"],
        env={**os.environ, **database_env(settings), "SECRET_KEY": new,
             "SECRET_KEY_PREVIOUS": settings.secret_key or "", "LOG_LEVEL": "WARNING"},
        capture_output=True, text=True, timeout=60, check=False)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted" in rotated.stdout
    after = await stored_secret(db, tenant)
    assert after != stored and SecretBox(new).open(after) == "demo-secret"
    async with db.tenant(tenant.id) as conn:  # webhook signing secrets too
        resealed = await conn.fetchval("SELECT signing_secret FROM webhook_endpoints")
    assert resealed != sealed_signing and SecretBox(new).open(resealed) == signing_secret
    only_new = settings.model_copy(update={"secret_key": new, "secret_key_previous": ""})
    assert (await sync(gql, only_new, tenant.write))["status"] == "SUCCEEDED"
    # The old key alone no longer reads it: the job says so instead of sending garbage.
    failed = await sync(gql, settings, tenant.write)
    assert failed["status"] == "FAILED" and "cannot be read" in failed["error"]


async def test_without_a_secret_key_no_secret_is_stored(
    settings: Settings, tenant: TenantKeys, simulator: str
) -> None:
    async with app_with(settings, secret_key=None) as client:
        gql = GraphQLClient(client)
        body = await gql("""mutation($url: String!) { configureActivitySource(input: {
          baseUrl: $url, clientId: "c", clientSecret: "s"}) { userErrors { field code } } }""",
                         {"url": simulator}, key=tenant.admin)
    assert body["data"]["configureActivitySource"]["userErrors"] == [
        {"field": ["input", "clientSecret"], "code": "SERVICE_UNAVAILABLE"}]
