"""Query limits: depth, aliases, tokens, document size, page size."""

from __future__ import annotations

import httpx

from service.api.execution.engine import limits
from service.infra.config import Settings
from tests.support import GraphQLClient, TenantKeys


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


def _spread_bomb(levels: int, leaf: str) -> str:
    """Each fragment spreads the next ten times: ten to the power of `levels` fields written
    out, in a few hundred bytes."""
    fragments = " ".join(
        f"fragment F{i} on BuyingGroup {{ {' '.join([f'...F{i + 1}'] * 10)} }}"
        for i in range(levels)) + f" fragment F{levels} on BuyingGroup {{ {leaf} }}"
    return "{ buyingGroups(first: 5) { nodes { ...F0 } } } " + fragments


async def test_fragments_spread_into_millions_of_fields_are_refused_before_any_walk(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    """Seven levels took 9.6 s of one process before (the depth and alias limits and the
    cost walk all followed every spread) and ended as MAX_COST_EXCEEDED."""
    body = await gql(_spread_bomb(6, "id"), key=tenant.read)
    error = body["errors"][0]
    assert body["data"] is None
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED", "maximumFields": 5000}
    assert "more than 5000 fields once each fragment is written out" in error["message"]


async def test_fragments_within_the_limit_run(gql: GraphQLClient, tenant: TenantKeys) -> None:
    body = await gql(_spread_bomb(2, "id name"), key=tenant.read)  # 200 fields written out
    assert body["data"] == {"buyingGroups": {"nodes": []}}, body.get("errors")
    # The cost walk follows every spread: the connection, then per node `nodes` and 200.
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1 + 5 * (1 + 200)


async def test_one_name_selected_hundreds_of_times_in_one_place_is_refused(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    """graphql-core compares every two of them: 1,240 took 0.85 s to validate."""
    query = "{ buyingGroups(first: 1) { nodes { " + "account { name } " * 70 + "} } }"
    body = await gql(query, key=tenant.read)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "same field names too many times in one place" in error["message"]


async def test_fields_repeated_by_a_few_fragments_run(gql: GraphQLClient,
                                                      tenant: TenantKeys) -> None:
    fragments = " ".join(f"fragment P{i} on Tenant {{ id name }}" for i in range(8))
    spreads = " ".join(f"...P{i}" for i in range(8))
    data = await gql.data(f"{{ viewer {{ tenant {{ id {spreads} }} }} }} {fragments}",
                          key=tenant.read)
    assert data["viewer"]["tenant"]["name"] == tenant.name
