"""End-to-end smoke test; CI also runs it alone against the embedded PostgreSQL and Valkey."""

from __future__ import annotations

import pytest
from arq.connections import ArqRedis

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import GraphQLClient, TenantKeys

pytestmark = pytest.mark.embedded


async def test_viewer_through_graphql_and_a_ready_service(
    gql: GraphQLClient, tenant: TenantKeys, db: Database, redis: ArqRedis, settings: Settings
) -> None:
    data = await gql.data("{ viewer { tenant { name } scopes } }", key=tenant.admin)
    assert data == {"viewer": {"tenant": {"name": tenant.name}, "scopes": ["ADMIN"]}}
    ready = await gql.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    server_version = await db.fetchval("SHOW server_version_num")
    assert int(server_version) >= 150000
    assert await redis.ping()
