"""Opaque global ids and node(id:), which never reveals another tenant's objects."""

from __future__ import annotations

import base64

from service.infra.db import Database
from service.store.jobs import JobKind, create_job
from tests.support import GraphQLClient, TenantKeys

JOB = """query($id: ID!) { node(id: $id) { __typename ... on BuyingGroupJob {
  id kind status progress { total processed percent } buyingGroupsCreated error createdAt } } }"""


def global_id(type_name: str, raw: object) -> str:
    return base64.b64encode(f"{type_name}:{raw}".encode()).decode()


async def test_a_job_is_readable_through_node(
    gql: GraphQLClient, db: Database, tenant: TenantKeys
) -> None:
    async with db.tenant(tenant.id) as conn:
        job = await create_job(conn, tenant.id, JobKind.CREATE)
    node = (await gql.data(JOB, {"id": global_id("BuyingGroupJob", job.id)},
                           key=tenant.read))["node"]
    assert node["__typename"] == "BuyingGroupJob"
    assert node["kind"] == "CREATE" and node["status"] == "QUEUED"
    assert node["progress"] == {"total": 0, "processed": 0, "percent": 0.0}
    assert node["id"] == global_id("BuyingGroupJob", job.id)
    assert node["createdAt"].endswith("+00:00")


async def test_another_tenants_object_looks_like_one_that_does_not_exist(
    gql: GraphQLClient, db: Database, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    async with db.tenant(other_tenant.id) as conn:
        job = await create_job(conn, other_tenant.id, JobKind.CREATE)
    theirs = await gql(JOB, {"id": global_id("BuyingGroupJob", job.id)}, key=tenant.read)
    missing = await gql(
        JOB, {"id": global_id("BuyingGroupJob", "00000000-0000-0000-0000-000000000000")},
        key=tenant.read,
    )
    assert theirs["data"] == missing["data"] == {"node": None}
    assert "errors" not in theirs and "errors" not in missing


async def test_the_viewer_tenant_is_a_node(gql: GraphQLClient, tenant: TenantKeys,
                                          other_tenant: TenantKeys) -> None:
    own = await gql.data("{ viewer { tenant { id } } }", key=tenant.read)
    tid = own["viewer"]["tenant"]["id"]
    node = await gql.data("query($id: ID!) { node(id: $id) { ... on Tenant { name } } }",
                          {"id": tid}, key=tenant.read)
    assert node["node"] == {"name": tenant.name}
    other = await gql.data("query($id: ID!) { node(id: $id) { id } }", {"id": tid},
                           key=other_tenant.read)
    assert other["node"] is None


async def test_a_malformed_id_is_a_clear_error_not_a_crash(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    body = await gql('{ node(id: "%%%") { id } }', key=tenant.read)
    assert body["errors"], body
    assert "Internal server error" not in body["errors"][0]["message"]
    body = await gql(JOB, {"id": global_id("BuyingGroupJob", "not-a-uuid")}, key=tenant.read)
    assert body["data"] == {"node": None} and "errors" not in body
