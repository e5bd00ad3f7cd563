"""Browsing buying groups: every filter, every order, pagination edges, and a statement count
that does not grow with the page."""

from __future__ import annotations

from typing import Any

import pytest
from graphql.execution.executor import Executor

from service.infra.config import Settings
from tests.support import GraphQLClient, TenantKeys, app_with, generate, setup_catalogue, spread

BROWSE = """query($filter: BuyingGroupFilter, $order: BuyingGroupOrder, $first: Int!,
                  $after: String) {
  buyingGroups(filter: $filter, orderBy: $order, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    nodes { name completeness { value } } } }"""

PAGE = """query($first: Int!) { buyingGroups(first: $first) { nodes {
  id name status account { name } solutionInterest { name }
  roles { role { name } memberCount members { person { fullName } } }
  members { nodes { person { fullName jobTitle } role { name } source } }
  completeness { value display } engagement { value } } } }"""


async def browse(gql: GraphQLClient, key: str, **variables: Any) -> dict[str, Any]:
    variables.setdefault("first", 50)
    data: dict[str, Any] = (await gql.data(BROWSE, variables, key=key))["buyingGroups"]
    return data




def names(page: dict[str, Any]) -> list[str]:
    return [n["name"].removeprefix("Cloud for Account ") for n in page["nodes"]]


async def test_every_filter(gql: GraphQLClient, settings: Settings, tenant: TenantKeys) -> None:
    cat = await spread(gql, settings, tenant.write)
    key = tenant.read
    assert names(await browse(gql, key)) == ["0", "1", "2", "3"]
    assert names(await browse(gql, key, filter={"search": "account 2"})) == ["2"]
    assert names(await browse(gql, key, filter={"accountIds": [cat["accounts"]["A3"]]})) == ["3"]
    assert names(await browse(gql, key, filter={"solutionInterestIds": [cat["si"]]})) == [
        "0", "1", "2", "3"]
    dm = cat["roles"]["Decision Maker"]
    assert names(await browse(gql, key, filter={"missingRoleIds": [dm]})) == ["1", "3"]
    # The source document's example: Decision Maker missing and completeness < 50.
    assert names(await browse(gql, key, filter={
        "missingRoleIds": [dm], "completenessScore": {"lt": 20}})) == ["3"]
    assert names(await browse(gql, key, filter={
        "missingRoleIds": [dm, cat["roles"]["Influencer"]]})) == ["3"]
    # Several roles: all of them missing (the default), or any of them.
    influencer, champion = cat["roles"]["Influencer"], cat["roles"]["Champion"]
    assert names(await browse(gql, key, filter={
        "missingRoleIds": [dm, influencer], "missingRoleMatch": "ANY"})) == ["1", "3"]
    assert names(await browse(gql, key, filter={
        "missingRoleIds": [influencer, champion], "missingRoleMatch": "ANY"})) == [
        "0", "1", "3"]
    assert names(await browse(gql, key, filter={
        "missingRoleIds": [influencer, champion], "missingRoleMatch": "ALL"})) == ["3"]
    # A role the template does not have is never "missing".
    assert names(await browse(gql, key, filter={"missingRoleIds": [cat["roles"]["Other"]]})) == []
    assert names(await browse(gql, key, filter={"completenessScore": {"gte": 62.5}})) == [
        "0", "2"]
    assert names(await browse(gql, key, filter={"completenessScore": {"gt": 12.5,
                                                                      "lte": 62.5}})) == [
        "0", "1"]
    assert names(await browse(gql, key, filter={"engagementScore": {"gt": 0}})) == []
    assert names(await browse(gql, key, filter={"engagementScore": {"gte": 0}})) == [
        "0", "1", "2", "3"]
    status = """mutation($id: ID!) { setBuyingGroupStatus(input: {buyingGroupId: $id,
        status: "In review"}) { buyingGroup { status } } }"""
    await gql.data(status, {"id": cat["groups"]["Cloud for Account 2"]}, key=tenant.write)
    assert names(await browse(gql, key, filter={"status": ["in review"]})) == ["2"]
    # One policy for ids of another type, filters included: INVALID_ID naming the item.
    body = await gql(BROWSE, {"filter": {"stageIds": [cat["si"]]}, "first": 50}, key=key)
    [error] = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "INVALID_ID", ["filter", "stageIds", "0"])


async def test_every_order_and_direction(gql: GraphQLClient, settings: Settings,
                                         tenant: TenantKeys) -> None:
    await spread(gql, settings, tenant.write)
    key = tenant.read
    by = {
        ("COMPLETENESS_SCORE", "ASC"): ["3", "1", "0", "2"],
        ("COMPLETENESS_SCORE", "DESC"): ["2", "0", "1", "3"],
        ("NAME", "DESC"): ["3", "2", "1", "0"],
        ("CREATED_AT", "ASC"): None,
        ("UPDATED_AT", "DESC"): None,
        ("ENGAGEMENT_SCORE", "ASC"): None,
    }
    for (field, direction), expected in by.items():
        order = {"field": field, "direction": direction}
        full = names(await browse(gql, key, order=order))
        if expected is not None:
            assert full == expected, (field, direction)
        # Paging one at a time gives the same sequence, with no gap and no repeat.
        seen, after = [], None
        while True:
            page = await browse(gql, key, order=order, first=1, after=after)
            seen += names(page)
            assert page["totalCount"] == 4
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert seen == full, (field, direction)


async def test_pagination_edges(gql: GraphQLClient, settings: Settings,
                                tenant: TenantKeys) -> None:
    await spread(gql, settings, tenant.write)
    key = tenant.read
    first = await browse(gql, key, first=3)
    assert first["pageInfo"] == {**first["pageInfo"], "hasNextPage": True,
                                 "hasPreviousPage": False}
    last = await browse(gql, key, first=3, after=first["pageInfo"]["endCursor"])
    assert names(last) == ["3"] and last["pageInfo"]["hasNextPage"] is False
    assert last["pageInfo"]["hasPreviousPage"] is True
    empty = await browse(gql, key, first=3, after=last["pageInfo"]["endCursor"])
    assert empty["nodes"] == [] and empty["totalCount"] == 4
    assert empty["pageInfo"]["endCursor"] is None
    zero = await browse(gql, key, first=0)
    assert zero["nodes"] == [] and zero["totalCount"] == 4
    nothing = await browse(gql, key, filter={"search": "no such group"})
    assert nothing == {"totalCount": 0, "nodes": [],
                       "pageInfo": {"hasNextPage": False, "hasPreviousPage": False,
                                    "endCursor": None}}
    bad = await gql(BROWSE, {"first": 3, "after": "not-a-cursor"}, key=key)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    # A cursor of one order is refused by another.
    name_cursor = first["pageInfo"]["endCursor"]
    mixed = await gql(BROWSE, {"first": 3, "after": name_cursor,
                               "order": {"field": "CREATED_AT"}}, key=key)
    assert mixed["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    too_many = await gql(BROWSE, {"first": 101}, key=key)
    assert too_many["errors"][0]["extensions"]["code"] == "PAGE_SIZE_EXCEEDED"


async def test_statements_per_browse_do_not_grow_with_the_page(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=50)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    counts = {}
    # Once to warm up: a new pooled connection first asks the server about some types.
    await gql(PAGE, {"first": 1}, key=tenant.read)
    for size in (5, 50):
        body = await gql(PAGE, {"first": size}, key=tenant.read)
        assert "errors" not in body, body["errors"]
        assert len(body["data"]["buyingGroups"]["nodes"]) == size
        counts[size] = body["extensions"]["sqlStatements"]
    assert counts[5] == counts[50]
    assert counts[50] <= 6, counts


async def test_engagement_explanations_of_a_page_cost_the_same_for_1_or_3_groups(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    page = """query($first: Int!) { buyingGroups(first: $first) { nodes { engagement {
      value windowStart windowEnd breakdown { weightedPoints role { name } members {
      points person { fullName } activities { activityType { name } points days { count } }
      } } } } } }"""
    # Three full explanations are as much as one page may price (MAX_QUERY_COST).
    cat = await setup_catalogue(gql, tenant.write, accounts=5)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    await gql(page, {"first": 1}, key=tenant.read)
    counts = {}
    for size in (1, 3):
        body = await gql(page, {"first": size}, key=tenant.read)
        assert "errors" not in body, body["errors"]
        assert len(body["data"]["buyingGroups"]["nodes"]) == size
        counts[size] = body["extensions"]["sqlStatements"]
    assert counts[1] == counts[3], counts


MEMBERS = """query($group: ID!, $role: ID, $removed: Boolean! = false, $first: Int! = 50,
                  $after: String, $inRole: Int! = 10) { node(id: $group) { ... on BuyingGroup {
  members(roleId: $role, includeRemoved: $removed, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { isRemoved person { externalId } role { name } } } }
  roles { role { name } memberCount members(first: $inRole) { person { externalId } } } } } }"""


async def test_the_arguments_of_nested_members(gql: GraphQLClient, settings: Settings,
                                               tenant: TenantKeys) -> None:
    cat = await spread(gql, settings, tenant.write)
    key, group = tenant.read, cat["groups"]["Cloud for Account 3"]

    async def members(**variables: Any) -> dict[str, Any]:
        data = await gql.data(MEMBERS, {"group": group, **variables}, key=key)
        return data["node"]  # type: ignore[no-any-return]

    def people(page: dict[str, Any]) -> list[str]:
        return [e["node"]["person"]["externalId"] for e in page["members"]["edges"]]

    everyone = await members(removed=True)
    active = await members()
    assert sorted(people(everyone)) == sorted([*people(active), "A3-ceo", "A3-vp"])
    assert all(not e["node"]["isRemoved"] for e in active["members"]["edges"])
    practitioner = cat["roles"]["Practitioner"]
    in_role = await members(role=practitioner)
    assert {e["node"]["role"]["name"] for e in in_role["members"]["edges"]} == {"Practitioner"}
    assert in_role["members"]["totalCount"] == next(
        r["memberCount"] for r in active["roles"] if r["role"]["name"] == "Practitioner")
    # Paged: one at a time, each page's cursor leads on.
    first = await members(removed=True, first=1)
    page = first["members"]
    assert page["pageInfo"]["startCursor"] == page["pageInfo"]["endCursor"] == \
        page["edges"][0]["cursor"]
    assert page["pageInfo"]["hasNextPage"] and not page["pageInfo"]["hasPreviousPage"]
    second = await members(removed=True, first=1, after=page["pageInfo"]["endCursor"])
    assert people(second) == people(everyone)[1:2]
    assert second["members"]["pageInfo"]["hasPreviousPage"]
    # A role's members are cut at `first`.
    assert all(len(r["members"]) <= 1 for r in (await members(inRole=1))["roles"])
    assert {len(r["members"]) for r in (await members(inRole=0))["roles"]} == {0}

    async def code(**variables: Any) -> str:
        body = await gql(MEMBERS, {"group": group, **variables}, key=key)
        return str(body["errors"][0]["extensions"]["code"])

    assert await code(role="not-an-id") == "INVALID_ID"
    assert await code(role=group) == "INVALID_ID"  # a group's id is no role's
    assert await code(first=101) == "PAGE_SIZE_EXCEEDED"
    assert await code(inRole=-1) == "PAGE_SIZE_EXCEEDED"
    assert await code(after="bad") == "INVALID_CURSOR"


async def test_a_page_runs_as_one_compiled_plan(gql: GraphQLClient, settings: Settings,
                                                tenant: TenantKeys,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the root field, graphql-core executes no field of the page: a plan made once for
    the request does (api/compiled.py), with the answer graphql-core gives field by field."""
    await spread(gql, settings, tenant.write)
    executed: list[str] = []
    execute_field = Executor.execute_field

    def counting(self: Any, parent_type: Any, *args: Any, **kwargs: Any) -> Any:
        executed.append(parent_type.name)
        return execute_field(self, parent_type, *args, **kwargs)

    monkeypatch.setattr(Executor, "execute_field", counting)
    compiled = await gql.data(PAGE, {"first": 4}, key=tenant.read)
    assert executed == ["Query"]
    executed.clear()
    async with app_with(settings, compiled_execution=False) as client:
        response = await client.post("/graphql", json={"query": PAGE, "variables": {"first": 4}},
                                     headers={"Authorization": f"Bearer {tenant.read}"})
    assert response.json()["data"] == compiled
    assert len(executed) > 100  # field by field
