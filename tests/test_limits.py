"""Query limits: depth, aliases, tokens, document size, page size."""

from __future__ import annotations

import httpx

from service.api.schema import limits
from service.config import Settings
from tests.conftest import GraphQLClient, TenantKeys


async def test_too_deep_a_query_is_refused(gql: GraphQLClient, tenant: TenantKeys) -> None:
    depth = 14  # the limit is 12; the depth rule judges the document's shape alone
    query = "{ viewer " + "{ tenant " * depth + "{ id" + " }" * (depth + 1) + " }"
    body = await gql(query, key=tenant.read)
    messages = [e["message"] for e in body["errors"]]
    assert any("exceeds maximum operation depth" in m for m in messages), messages


async def test_a_query_within_the_limits_runs(gql: GraphQLClient, tenant: TenantKeys) -> None:
    data = await gql.data("{ viewer { tenant { id } apiKey { id name } } }", key=tenant.read)
    assert data["viewer"]["apiKey"]["name"] == "READ key"


async def test_too_many_aliases_are_refused(gql: GraphQLClient, tenant: TenantKeys) -> None:
    query = "{ " + " ".join(f"a{i}: viewer {{ scopes }}" for i in range(31)) + " }"
    body = await gql(query, key=tenant.read)
    assert "aliases found" in body["errors"][0]["message"].lower()


def test_the_depth_and_alias_rules_are_made_once(settings: Settings) -> None:
    """Every request gets the limits' extension anew, with the same rule classes: making a
    class for every request costs time and leaves garbage for the cycle collector."""
    made = limits(settings)
    first, second = made(), made()
    assert first is not second
    assert len(first.validation_rules) == 2  # type: ignore[attr-defined]
    assert first.validation_rules == second.validation_rules  # type: ignore[attr-defined]


async def test_too_many_tokens_are_refused(gql: GraphQLClient, tenant: TenantKeys) -> None:
    query = "{ viewer { " + "scopes " * 6000 + "} }"
    body = await gql(query, key=tenant.read)
    assert "token" in body["errors"][0]["message"].lower()


async def test_an_oversized_document_is_413(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    query = "{ viewer { scopes } }" + " " * 70_000
    response = await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {tenant.read}"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "GraphQL document exceeds 65536 bytes" in response.text


async def test_large_variables_pass_but_a_huge_body_is_413(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    query = "query($x: String) { viewer { scopes } }"
    big = {"query": query, "variables": {"x": "y" * 300_000}}
    headers = {"Authorization": f"Bearer {tenant.read}"}
    response = await client.post("/graphql", json=big, headers=headers)
    assert response.status_code == 200, response.text
    huge = {"query": query, "variables": {"x": "y" * (9 * 1024 * 1024)}}
    response = await client.post("/graphql", json=huge, headers=headers)
    assert response.status_code == 413
    assert "Request body exceeds" in response.text


async def test_first_over_100_is_a_clear_error(gql: GraphQLClient, tenant: TenantKeys) -> None:
    body = await gql("{ apiKeys(first: 101) { totalCount } }", key=tenant.admin)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PAGE_SIZE_EXCEEDED"
    assert "between 0 and 100" in error["message"]


async def test_a_bad_cursor_is_a_clear_error(gql: GraphQLClient, tenant: TenantKeys) -> None:
    body = await gql('{ apiKeys(after: "garbage!") { totalCount } }', key=tenant.admin)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


async def test_pages_follow_each_other_without_gaps(gql: GraphQLClient, tenant: TenantKeys) -> None:
    query = """query($after: String) { apiKeys(first: 2, after: $after) {
      totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }"""
    first = (await gql.data(query, key=tenant.admin))["apiKeys"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True
    second = (await gql.data(query, {"after": first["pageInfo"]["endCursor"]},
                             key=tenant.admin))["apiKeys"]
    assert second["pageInfo"]["hasNextPage"] is False
    names = [e["node"]["name"] for e in first["edges"] + second["edges"]]
    assert sorted(names) == ["ADMIN key", "READ key", "WRITE key"]
    empty = (await gql.data(query, {"after": second["pageInfo"]["endCursor"]},
                            key=tenant.admin))["apiKeys"]
    assert empty["edges"] == [] and empty["pageInfo"]["endCursor"] is None
